"""What a coupon is worth on a basket (``benefits.baskets``): the minimum spend counted on the
lines the coupon applies to, the discount per kind with its caps, and the refusals for the
store, channel, day and hour. Every figure below is worked out by hand in its comment."""

from __future__ import annotations

from decimal import Decimal

import pytest

from benefits.baskets import Terms, coupon_terms
from benefits.errors import (
    CouponBasketRequired,
    CouponMinimumSpend,
    CouponNotEligible,
    CouponNotRedeemable,
    CouponWrongChannel,
    CouponWrongStore,
    CouponWrongTime,
)
from benefits.models import Benefit
from members.purchases.baskets import Basket, BasketLine
from tests.factories import StoreFactory
from tests.tiers.conftest import local

pytestmark = pytest.mark.django_db

D = Decimal
WEDNESDAY_NOON = local(2026, 11, 11, 12, 0)  # 2026-11-11 is a Wednesday


def benefit(**fields) -> Benefit:
    defaults = {"name": "满100减20", "kind": Benefit.Kind.AMOUNT_OFF, "value": D(20), "min_spend": D(100)}
    return Benefit.objects.create(**(defaults | fields))


def terms(of: Benefit, basket: Basket, *, store=None, channel: str = "store", at=WEDNESDAY_NOON) -> Terms:
    return coupon_terms(of, store=store or StoreFactory(), channel=channel, basket=basket, at=at)


def line(sku: str, amount: str, category: str = "") -> BasketLine:
    return BasketLine(sku=sku, amount=D(amount), category=category)


def test_the_minimum_spend_is_enforced_to_the_fen():
    twenty_off = benefit()
    with pytest.raises(CouponMinimumSpend) as short:
        terms(twenty_off, Basket(amount=D("99.99")))
    assert short.value.code == "coupon_minimum_spend"
    assert short.value.details["answer"] == {"minimum_spend": "100.00", "eligible_amount": "99.99"}
    assert short.value.message == "The minimum spend is ¥100.00; the basket has ¥99.99 that counts."
    assert terms(twenty_off, Basket(amount=D("100.00"))) == Terms(
        eligible_amount=D("100.00"), discount=D("20.00")
    )


def test_excluded_lines_count_neither_for_the_minimum_nor_for_the_discount():
    no_tobacco = benefit(excluded_categories=["烟酒"], excluded_skus=["GIFTCARD-100"])
    # 食品 60 + 烟酒 90 = 150 paid, but only 60 counts: below 100
    basket = Basket(amount=D(150), lines=[line("RICE-5KG", "60", "食品"), line("MOUTAI", "90", "烟酒")])
    with pytest.raises(CouponMinimumSpend) as short:
        terms(no_tobacco, basket)
    assert short.value.details["answer"] == {"minimum_spend": "100.00", "eligible_amount": "60.00"}
    # 食品 110 counts; 烟酒 90 and the gift card 100 do not: 110 >= 100, 20 off
    basket = Basket(
        amount=D(300),
        lines=[line("RICE-5KG", "110", "食品"), line("MOUTAI", "90", "烟酒"), line("GIFTCARD-100", "100")],
    )
    assert terms(no_tobacco, basket) == Terms(eligible_amount=D("110.00"), discount=D("20.00"))


def test_listed_categories_and_skus_are_what_counts_and_the_unlisted_part_does_not():
    drinks = benefit(min_spend=D(50), categories=["饮品"], skus=["CAKE-01"], excluded_skus=["TEA-GIFTBOX"])
    basket = Basket(
        amount=D(200),  # 105 listed; the 95 no line lists is nothing known
        lines=[
            line("LATTE", "30", "饮品"),
            line("CAKE-01", "25", "甜点"),  # of a listed SKU
            line("BREAD", "40", "面包"),  # neither
            line("TEA-GIFTBOX", "10", "饮品"),  # in the category, but excluded by SKU
        ],
    )
    # 30 + 25 = 55 >= 50
    assert terms(drinks, basket) == Terms(eligible_amount=D("55.00"), discount=D("20.00"))


def test_without_line_conditions_the_whole_order_counts_listed_or_not():
    basket = Basket(amount=D(120), lines=[line("A", "30", "烟酒")])  # 90 unlisted
    assert terms(benefit(), basket) == Terms(eligible_amount=D("120.00"), discount=D("20.00"))


def test_a_basket_with_no_line_the_coupon_applies_to_is_not_eligible():
    drinks = benefit(min_spend=D(0), categories=["饮品"])
    with pytest.raises(CouponNotEligible) as refused:
        terms(drinks, Basket(amount=D(80), lines=[line("BREAD", "80", "面包")]))
    assert (refused.value.code, refused.value.details["field"]) == ("coupon_not_eligible", "lines")


def test_percent_off_is_rounded_half_up_and_capped():
    twelve = benefit(
        name="88折", kind=Benefit.Kind.PERCENT_OFF, value=D(12), min_spend=D(0), max_discount=D(30)
    )
    assert terms(twelve, Basket(amount=D(200))).discount == D("24.00")  # 200 × 12% = 24
    assert terms(twelve, Basket(amount=D(300))).discount == D("30.00")  # 36, capped at 30
    assert terms(twelve, Basket(amount=D("33.33"))).discount == D("4.00")  # 3.9996 -> 4.00
    quarter = benefit(name="75折", kind=Benefit.Kind.PERCENT_OFF, value=D(25), min_spend=D(0))
    assert terms(quarter, Basket(amount=D("0.10"))).discount == D("0.03")  # 0.025: half up, not to even
    uncapped = benefit(name="9折", kind=Benefit.Kind.PERCENT_OFF, value=D(10), min_spend=D(0))
    assert terms(uncapped, Basket(amount=D(1000))).discount == D("100.00")


def test_percent_off_counts_only_the_eligible_lines():
    twelve = benefit(kind=Benefit.Kind.PERCENT_OFF, value=D(12), min_spend=D(0), excluded_categories=["烟酒"])
    basket = Basket(amount=D(250), lines=[line("RICE", "150", "食品"), line("MOUTAI", "100", "烟酒")])
    assert terms(twelve, basket) == Terms(eligible_amount=D("150.00"), discount=D("18.00"))  # 150 × 12%


def test_amount_off_is_at_most_the_eligible_amount_and_gifts_take_nothing_off():
    no_minimum = benefit(min_spend=D(0))
    assert terms(no_minimum, Basket(amount=D("15.50"))).discount == D("15.50")  # 20 off a 15.50 order
    for kind in (Benefit.Kind.FREE_SHIPPING, Benefit.Kind.GIFT, Benefit.Kind.INVITATION):
        assert terms(benefit(kind=kind, value=D(0)), Basket(amount=D(300))) == Terms(D("300.00"), D("0.00"))


def test_a_basket_is_required_for_a_minimum_spend_or_line_conditions_only():
    with pytest.raises(CouponBasketRequired) as no_basket:
        terms(benefit(), Basket())
    assert (no_basket.value.code, no_basket.value.details["field"]) == ("coupon_basket_required", "amount")
    drinks = benefit(min_spend=D(0), categories=["饮品"], excluded_categories=["酒"])
    with pytest.raises(CouponBasketRequired) as no_lines:
        terms(drinks, Basket(amount=D(100)))
    assert no_lines.value.message == (
        "This coupon applies to some items only (饮品, not 酒): their lines or their amount are needed."
    )
    # staff at the counter type the amount of those items instead of lines: 40 of the order's 100
    assert terms(drinks, Basket(amount=D(100), eligible_amount=D(40))) == Terms(D("40.00"), D("20.00"))
    # a coupon with no condition goes without a basket: the till computes what it takes off
    assert terms(benefit(min_spend=D(0)), Basket()) == Terms(None, None)


def test_stores_and_channels_refuse_with_their_codes():
    here, there = StoreFactory(name="上海徐汇店"), StoreFactory(name="北京朝阳店")
    online_at_one_store = benefit(min_spend=D(0), channels=["wechat_mp", "store"])
    online_at_one_store.stores.set([here])
    assert terms(online_at_one_store, Basket(amount=D(10)), store=here).discount == D("10.00")
    with pytest.raises(CouponWrongStore) as wrong_store:
        terms(online_at_one_store, Basket(amount=D(10)), store=there)
    assert wrong_store.value.details["field"] == "store" and "上海徐汇店" in wrong_store.value.message
    with pytest.raises(CouponWrongChannel) as wrong_channel:
        terms(online_at_one_store, Basket(amount=D(10)), store=here, channel="tmall")
    assert wrong_channel.value.message == "This coupon is for WeChat mini-program, Store (POS) only."
    assert all(issubclass(e, CouponNotRedeemable) for e in (CouponWrongStore, CouponWrongChannel))


@pytest.mark.parametrize(
    ("weekdays", "hours", "at", "usable"),
    [
        ([3], (None, None), WEDNESDAY_NOON, True),
        ([6, 7], (None, None), WEDNESDAY_NOON, False),  # weekends only
        ([], (10, 14), local(2026, 11, 11, 13, 59), True),
        ([], (10, 14), local(2026, 11, 11, 14, 0), False),  # until 14: 13:59 is the last minute
        ([], (22, 2), local(2026, 11, 11, 23, 30), True),  # across midnight
        ([], (22, 2), local(2026, 11, 12, 1, 59), True),
        ([], (22, 2), WEDNESDAY_NOON, False),
    ],
)
def test_weekdays_and_hours_in_the_programmes_time(weekdays, hours, at, usable):
    lunch = benefit(min_spend=D(0), weekdays=weekdays, hour_from=hours[0], hour_to=hours[1])
    if usable:
        assert terms(lunch, Basket(amount=D(30)), at=at).discount == D("20.00")
    else:
        with pytest.raises(CouponWrongTime):
            terms(lunch, Basket(amount=D(30)), at=at)
