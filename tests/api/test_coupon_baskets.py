"""Coupons against the basket through the API: validate and redeem answer the discount or 422
with the reason's code, and a redemption is undone (void) by the partner that made it, within
the window or when the order is cancelled. Discounts are worked out by hand in the comments."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from benefits.coupons import coupon_issue
from benefits.models import Benefit, Coupon, CouponRedemption
from members.partners.services import member_link
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

VALIDATE, REDEEM, VOID = "/api/v1/coupons/validate/", "/api/v1/coupons/redeem/", "/api/v1/coupons/void/"


@pytest.fixture
def twenty_off(db) -> Benefit:
    """满100减20, on any order."""
    return Benefit.objects.create(
        name="满100减20", kind=Benefit.Kind.AMOUNT_OFF, value=Decimal(20), min_spend=Decimal(100)
    )


@pytest.fixture
def no_tobacco(db) -> Benefit:
    """满100减20 on anything but tobacco and alcohol."""
    return Benefit.objects.create(
        name="满100减20(烟酒除外)",
        kind=Benefit.Kind.AMOUNT_OFF,
        value=Decimal(20),
        min_spend=Decimal(100),
        excluded_categories=["烟酒"],
    )


def coupon_of(client, benefit: Benefit) -> Coupon:
    member = MemberFactory()
    member_link(partner=client.partner, member=member)
    return coupon_issue(member, benefit=benefit, origin=Coupon.Origin.MANUAL)


def lines(*pairs: tuple[str, str]) -> list[dict]:
    return [
        {"sku": f"SKU-{i}", "category": category, "amount": amount}
        for i, (category, amount) in enumerate(pairs)
    ]


def test_validate_answers_the_discount_on_the_eligible_lines(partner_a, no_tobacco):
    coupon = coupon_of(partner_a, no_tobacco)
    basket = {
        "code": coupon.code,
        "store": "A001",
        "amount": "180.00",
        "lines": lines(("食品", "110"), ("烟酒", "70")),
    }
    answer = partner_a.post(VALIDATE, basket, idempotency_key=None).json()
    assert answer["redeemable"] is True and (answer["reason"], answer["refusal"]) == ("", "")
    assert (answer["eligible_amount"], answer["discount"]) == ("110.00", "20.00")  # 烟酒 70 does not count
    assert answer["coupon"]["benefit"]["excluded_categories"] == ["烟酒"]
    # 食品 99.99 + 烟酒 80: 180 paid, 99.99 counts
    short = {**basket, "amount": "179.99", "lines": lines(("食品", "99.99"), ("烟酒", "80"))}
    answer = partner_a.post(VALIDATE, short, idempotency_key=None).json()
    assert (answer["redeemable"], answer["refusal"]) == (False, "coupon_minimum_spend")
    assert (answer["eligible_amount"], answer["discount"]) == (None, None)
    assert answer["reason"] == "The minimum spend is ¥100.00; the basket has ¥99.99 that counts."
    assert Coupon.objects.get().status == "issued" and not CouponRedemption.objects.exists()


def test_redeem_refuses_below_the_minimum_spend_naming_the_figures(partner_a, twenty_off):
    coupon = coupon_of(partner_a, twenty_off)
    short = partner_a.post(REDEEM, {"code": coupon.code, "store": "A001", "amount": "99.99"})
    assert short.status_code == 422
    assert short.json() == {
        "code": "coupon_minimum_spend",
        "message": "The minimum spend is ¥100.00; the basket has ¥99.99 that counts.",
        "fields": {"amount": ["The minimum spend is ¥100.00; the basket has ¥99.99 that counts."]},
        "minimum_spend": "100.00",
        "eligible_amount": "99.99",
    }
    assert Coupon.objects.get().status == "issued"

    done = partner_a.post(
        REDEEM, {"code": coupon.code, "store": "A001", "amount": "100.00", "order_number": "A-9"}
    )
    assert done.status_code == 200, done.json()
    redemption = done.json()["redemption"]
    assert {
        k: redemption[k]
        for k in ("store", "channel", "order_number", "amount", "eligible_amount", "discount")
    } == {
        "store": "A001",
        "channel": "store",  # the partner's first channel
        "order_number": "A-9",
        "amount": "100.00",
        "eligible_amount": "100.00",
        "discount": "20.00",
    }
    until = datetime.datetime.fromisoformat(redemption["void_until"])
    redeemed_at = datetime.datetime.fromisoformat(redemption["redeemed_at"])
    assert until - redeemed_at == datetime.timedelta(minutes=30) and redemption["voided_at"] is None
    assert done.json()["coupon"]["status"] == "redeemed"


def test_excluded_lines_do_not_count_toward_the_minimum_spend(partner_a, no_tobacco):
    coupon = coupon_of(partner_a, no_tobacco)
    body = {"code": coupon.code, "store": "A001", "amount": "300"}
    with_lines = partner_a.post(REDEEM, {**body, "lines": lines(("烟酒", "200"), ("食品", "99"))})
    assert (with_lines.status_code, with_lines.json()["eligible_amount"]) == (
        422,
        "99.00",
    )  # 300 paid, 99 counts
    only_tobacco = partner_a.post(REDEEM, {**body, "lines": lines(("烟酒", "300"))})
    assert (only_tobacco.status_code, only_tobacco.json()["code"]) == (422, "coupon_not_eligible")
    no_lines = partner_a.post(REDEEM, body)  # which part is tobacco? the lines say
    assert (no_lines.status_code, no_lines.json()["code"]) == (422, "coupon_basket_required")
    assert no_lines.json()["message"] == (
        "This coupon applies to some items only (anything but 烟酒): their lines or their amount are needed."
    )
    assert Coupon.objects.get().status == "issued"
    done = partner_a.post(REDEEM, {**body, "lines": lines(("烟酒", "150"), ("食品", "100"), ("日用", "50"))})
    assert done.status_code == 200, done.json()
    assert (done.json()["redemption"]["eligible_amount"], done.json()["redemption"]["discount"]) == (
        "150.00",  # 食品 100 + 日用 50
        "20.00",
    )


def test_without_a_basket_a_coupon_with_conditions_is_refused_and_one_without_goes(partner_a, twenty_off):
    coupon = coupon_of(partner_a, twenty_off)
    refused = partner_a.post(REDEEM, {"code": coupon.code, "store": "A001"})
    assert (refused.status_code, refused.json()["code"]) == (422, "coupon_basket_required")
    assert Coupon.objects.get(pk=coupon.pk).status == "issued"
    free_shipping = Benefit.objects.create(name="包邮券", kind=Benefit.Kind.FREE_SHIPPING)
    plain = coupon_of(partner_a, free_shipping)
    done = partner_a.post(REDEEM, {"code": plain.code, "store": "A001"})
    assert done.status_code == 200, done.json()
    assert (done.json()["redemption"]["amount"], done.json()["redemption"]["discount"]) == (None, None)


def test_percent_off_is_capped(partner_a):
    twelve = Benefit.objects.create(
        name="88折", kind=Benefit.Kind.PERCENT_OFF, value=Decimal(12), max_discount=Decimal(30)
    )
    coupon = coupon_of(partner_a, twelve)
    answer = partner_a.post(VALIDATE, {"code": coupon.code, "store": "A001", "amount": "200"}).json()
    assert answer["discount"] == "24.00"  # 200 × 12%
    answer = partner_a.post(VALIDATE, {"code": coupon.code, "store": "A001", "amount": "400"}).json()
    assert answer["discount"] == "30.00"  # 48, capped at 30
    done = partner_a.post(REDEEM, {"code": coupon.code, "store": "A001", "amount": "400"}).json()
    assert done["redemption"]["discount"] == "30.00"


def test_stores_and_channels_are_the_benefits(partner_a, twenty_off):
    from tests.factories import StoreFactory

    twenty_off.channels = ["wechat_mp"]
    twenty_off.save()
    twenty_off.stores.set([StoreFactory(code="ELSEWHERE")])
    coupon = coupon_of(partner_a, twenty_off)
    body = {"code": coupon.code, "store": "A001", "amount": "150"}
    store = partner_a.post(REDEEM, {**body, "channel": "wechat_mp"})
    assert (store.status_code, store.json()["code"], list(store.json()["fields"])) == (
        422,
        "coupon_wrong_store",
        ["store"],
    )
    twenty_off.stores.clear()
    channel = partner_a.post(REDEEM, body)  # the partner's first channel: store (POS)
    assert (channel.status_code, channel.json()["code"]) == (422, "coupon_wrong_channel")
    check = partner_a.post(VALIDATE, body, idempotency_key=None).json()
    assert (check["redeemable"], check["refusal"]) == (False, "coupon_wrong_channel")
    assert partner_a.post(REDEEM, {**body, "channel": "wechat_mp"}).status_code == 200


def test_the_basket_is_checked(partner_a, twenty_off):
    coupon = coupon_of(partner_a, twenty_off)
    base = {"code": coupon.code, "store": "A001"}
    cases = [
        ({"lines": lines(("食品", "10"))}, {"amount"}),  # lines without the amount
        ({"amount": "100", "lines": lines(("食品", "60"), ("食品", "50"))}, {"lines"}),  # 110 > 100
        ({"amount": "100", "channel": "tmall"}, {"channel"}),  # not one of the partner's
        ({"amount": 100}, {"amount"}),  # a number, not a string
        ({"amount": "100", "lines": [{"amount": "10"}]}, {"lines[0].sku"}),
    ]
    for extra, fields in cases:
        for path in (VALIDATE, REDEEM):
            response = partner_a.post(path, {**base, **extra})
            assert response.status_code == 400, (path, extra, response.json())
            assert set(response.json()["fields"]) == fields, (path, extra)
    assert Coupon.objects.get().status == "issued"


# --- undoing --------------------------------------------------------------------------------------


def redeemed(client, benefit: Benefit, order: str = "A-100") -> Coupon:
    coupon = coupon_of(client, benefit)
    done = client.post(
        REDEEM, {"code": coupon.code, "store": "A001", "amount": "120.00", "order_number": order}
    )
    assert done.status_code == 200, done.json()
    return coupon


def test_void_within_the_window_restores_the_coupon(partner_a, twenty_off):
    coupon = redeemed(partner_a, twenty_off)
    response = partner_a.post(VOID, {"code": coupon.display_code, "reason": "undo", "note": "收银员扫错"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["coupon"]["status"] == "issued" and body["coupon"]["redeemed_at"] is None
    assert body["redemption"]["void_reason"] == "undo" and body["redemption"]["voided_at"]
    undone = CouponRedemption.objects.get()
    assert (undone.voided_by, undone.void_note) == (partner_a.partner.user, "收银员扫错")
    # the coupon is redeemed again, for another order
    again = partner_a.post(REDEEM, {"code": coupon.code, "store": "A001", "amount": "150.00"})
    assert again.status_code == 200, again.json()
    assert CouponRedemption.objects.filter(voided_at__isnull=True).count() == 1


def test_void_after_the_window_is_refused_but_a_cancelled_order_undoes_it(partner_a, twenty_off):
    coupon = redeemed(partner_a, twenty_off, order="A-100")
    CouponRedemption.objects.update(void_until=timezone.now() - datetime.timedelta(seconds=1))
    late = partner_a.post(VOID, {"code": coupon.code, "reason": "undo"})
    assert (late.status_code, late.json()["code"]) == (422, "coupon_void_window_passed")
    until = CouponRedemption.objects.get().void_until
    assert datetime.datetime.fromisoformat(late.json()["void_until"]) == until
    assert Coupon.objects.get().status == "redeemed"

    wrong = partner_a.post(VOID, {"code": coupon.code, "reason": "order_cancelled", "order_number": "A-999"})
    assert wrong.status_code == 404  # it redeemed nothing for that order
    no_order = partner_a.post(VOID, {"code": coupon.code, "reason": "order_cancelled"})
    assert (no_order.status_code, set(no_order.json()["fields"])) == (400, {"order_number"})
    cancelled = partner_a.post(
        VOID, {"code": coupon.code, "reason": "order_cancelled", "order_number": "A-100"}
    )
    assert cancelled.status_code == 200, cancelled.json()
    assert cancelled.json()["redemption"]["void_reason"] == "order_cancelled"
    assert Coupon.objects.get().status == "issued"


def test_a_void_replayed_or_sent_again_is_the_same_void(partner_a, twenty_off):
    coupon = redeemed(partner_a, twenty_off)
    first = partner_a.post(VOID, {"code": coupon.code, "reason": "undo"}, idempotency_key="void-1")
    replay = partner_a.post(VOID, {"code": coupon.code, "reason": "undo"}, idempotency_key="void-1")
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.json() == first.json()
    again = partner_a.post(VOID, {"code": coupon.code, "reason": "undo"})  # another key: answered as it is
    assert again.status_code == 200 and again.json()["redemption"] == first.json()["redemption"]
    assert CouponRedemption.objects.get().voided_at is not None


def test_another_partner_cannot_void(partner_a, partner_b, twenty_off):
    coupon = redeemed(partner_a, twenty_off)
    member_link(partner=partner_b.partner, member=coupon.member)  # B sees the member, not A's redemption
    response = partner_b.post(VOID, {"code": coupon.code, "reason": "undo"})
    assert response.json() == {"code": "not_found", "message": "Not found.", "fields": {}}
    assert Coupon.objects.get().status == "redeemed"
    never = coupon_of(partner_a, twenty_off)  # never redeemed: nothing to undo
    assert partner_a.post(VOID, {"code": never.code, "reason": "undo"}).status_code == 404
