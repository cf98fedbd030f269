"""The counter's page with the basket: what a coupon takes off the order, the refusals in words,
and undoing a recent redemption of the staff's own store within its window; and the benefit's
conditions as operators edit them (ticks and typed lists, never JSON)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from benefits.coupons import coupon_issue
from benefits.models import Benefit, Coupon, CouponRedemption
from config.common.roles import Role
from tests.conftest import login
from tests.factories import StoreFactory

pytestmark = pytest.mark.django_db

REDEEM = reverse("admin:benefits_coupon_redeem")


@pytest.fixture
def no_tobacco(db) -> Benefit:
    return Benefit.objects.create(
        name="满100减20",
        kind=Benefit.Kind.AMOUNT_OFF,
        value="20.00",
        min_spend="100.00",
        excluded_categories=["烟酒"],
    )


@pytest.fixture
def coupon(member, no_tobacco) -> Coupon:
    return coupon_issue(member, benefit=no_tobacco, origin=Coupon.Origin.MANUAL)


@pytest.fixture
def counter(store_staff, store):
    store.staff.add(store_staff)
    return store_staff


def post(client, store, coupon, **fields):
    return client.post(REDEEM, {"store": store.pk, "code": coupon.code, **fields}, follow=True)


def test_the_counter_asks_for_the_items_the_coupon_is_for_and_shows_the_discount(en, counter, store, coupon):
    login(en, counter)
    page = post(en, store, coupon, amount="300").content.decode()
    assert "for anything but 烟酒" in page  # its conditions, in words
    assert "applies to some items only (anything but 烟酒)" in page and 'name="redeem"' not in page
    short = post(en, store, coupon, amount="300", eligible_amount="99.99").content.decode()
    assert "The minimum spend is ¥100.00; the basket has ¥99.99 that counts." in short
    check = post(en, store, coupon, amount="300", eligible_amount="120")
    facts = dict(check.context["facts"])
    assert (facts["counted for the coupon"], facts["discount"]) == ("¥120.00", "¥20.00")
    done = post(en, store, coupon, amount="300", eligible_amount="120", redeem="1").content.decode()
    assert "¥20.00 off" in done
    redemption = CouponRedemption.objects.get()
    assert (redemption.amount, redemption.eligible_amount, redemption.discount) == (
        Decimal("300.00"),
        Decimal("120.00"),
        Decimal("20.00"),
    )
    assert Coupon.objects.get().status == "redeemed"


def test_the_items_amount_is_at_most_the_orders(en, counter, store, coupon):
    login(en, counter)
    form = post(en, store, coupon, amount="100", eligible_amount="120", redeem="1").context["form"]
    assert form.errors == {"eligible_amount": ["At most the order's amount."]}
    form = post(en, store, coupon, eligible_amount="120").context["form"]
    assert form.errors == {"amount": ["Type the order's amount too."]}
    assert Coupon.objects.get().status == "issued"


def test_a_recent_redemption_is_undone_from_the_list_and_the_coupon_is_back(en, counter, store, coupon):
    login(en, counter)
    post(en, store, coupon, amount="300", eligible_amount="120", redeem="1")
    redemption = CouponRedemption.objects.get()
    listed = en.get(REDEEM)
    (row,) = listed.context["recent"]
    assert (row["id"], row["undoable"], row["discount"]) == (redemption.pk, True, "¥20.00")
    assert row["member"] == f"{coupon.member.member_number} 张*"  # masked for store staff
    assert "can be undone until" in row["state"] and 'name="void"' in listed.content.decode()

    undone = en.post(REDEEM, {"void": redemption.pk}, follow=True).content.decode()

    assert f"Undone: {coupon}" in undone and "can be used again" in undone
    redemption.refresh_from_db()
    assert (redemption.voided_by, redemption.void_reason) == (counter, "undo")
    assert Coupon.objects.get().status == "issued"
    (row,) = en.get(REDEEM).context["recent"]
    assert row["undoable"] is False and row["state"].startswith("undone")
    post(en, store, coupon, amount="200", eligible_amount="150", redeem="1")  # and used again
    assert Coupon.objects.get().status == "redeemed"


def test_after_the_window_the_counter_cannot_undo(en, counter, store, coupon):
    login(en, counter)
    post(en, store, coupon, amount="300", eligible_amount="120", redeem="1")
    CouponRedemption.objects.update(
        void_until=CouponRedemption.objects.get().redeemed_at + datetime.timedelta(0)
    )
    (row,) = en.get(REDEEM).context["recent"]
    assert row["undoable"] is False and row["state"] == ""
    refused = en.post(REDEEM, {"void": row["id"]}, follow=True).content.decode()
    assert "It can no longer be undone" in refused
    assert Coupon.objects.get().status == "redeemed"


def test_staff_of_another_store_neither_see_nor_undo_it(en, counter, store, coupon, make_user):
    login(en, counter)
    post(en, store, coupon, amount="300", eligible_amount="120", redeem="1")
    redemption = CouponRedemption.objects.get()
    other = make_user(Role.STORE_STAFF, "other_store")
    StoreFactory(code="S0999", name="北京朝阳店").staff.add(other)
    login(en, other)
    page = en.get(REDEEM)
    assert page.context["recent"] == [] and coupon.member.name not in page.content.decode()
    refused = en.post(REDEEM, {"void": redemption.pk}, follow=True).content.decode()
    assert "This is not a recent redemption at your stores." in refused
    for garbage in ("abc", "", "99999999"):
        assert en.post(REDEEM, {"void": garbage}, follow=True).status_code == 200
    redemption.refresh_from_db()
    assert redemption.voided_at is None and Coupon.objects.get().status == "redeemed"


# --- the benefit's conditions in the admin --------------------------------------------------------


def test_operators_tick_and_type_the_conditions_never_json(client, operator, store):
    login(client, operator)
    response = client.post(
        reverse("admin:benefits_benefit_add"),
        {
            "name": "饮品88折",
            "kind": "percent_off",
            "value": "12",
            "max_discount": "30",
            "valid_days": "30",
            "conditions": "",
            "active": "on",
            "stores": [store.pk],
            "channels": ["store", "wechat_mp"],
            "weekdays": ["1", "5"],
            "hour_from": "10",
            "hour_to": "14",
            "min_spend": "50",
            "categories": "饮品，咖啡\n茶",
            "skus": "",
            "excluded_categories": "",
            "excluded_skus": "TEA-GIFTBOX",
            "void_window_minutes": "15",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    benefit = Benefit.objects.get(name="饮品88折")
    assert (benefit.categories, benefit.excluded_skus) == (["饮品", "咖啡", "茶"], ["TEA-GIFTBOX"])
    assert (benefit.channels, benefit.weekdays, benefit.void_window_minutes) == (
        ["store", "wechat_mp"],
        [1, 5],
        15,
    )
    assert list(benefit.stores.all()) == [store] and benefit.max_discount == Decimal("30.00")
    page = client.get(reverse("admin:benefits_benefit_change", args=[benefit.pk])).content.decode()
    assert "饮品, 咖啡, 茶" in page and '["' not in page


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"kind": "amount_off", "max_discount": "30"}, {"max_discount"}),  # a cap is for percent off
        ({"void_window_minutes": "1441"}, {"void_window_minutes"}),  # at most a day
        ({"hour_from": "25"}, {"hour_from"}),
    ],
)
def test_conditions_that_make_no_sense_are_refused_on_their_field(client, operator, fields, errors):
    login(client, operator)
    data = {"name": "券", "kind": "percent_off", "value": "10", "valid_days": "30", "min_spend": "0"}
    data |= {"void_window_minutes": "30", **fields}
    response = client.post(reverse("admin:benefits_benefit_add"), data)
    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == errors
    assert not Benefit.objects.filter(name="券").exists()


def test_roles_that_only_read_see_the_lists_as_words(en, finance):
    benefit = Benefit.objects.create(
        name="早餐券", kind="amount_off", value=5, channels=["store"], weekdays=[1, 2], categories=["早餐"]
    )
    login(en, finance)
    page = en.get(reverse("admin:benefits_benefit_change", args=[benefit.pk])).content.decode()
    assert "早餐" in page and "Store (POS)" in page and "Mon, Tue" in page
    assert '["' not in page and "[1, 2]" not in page
