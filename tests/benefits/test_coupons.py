"""Coupons: entitlements issued once per period, redeemed (核销) once, with clear reasons."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied

from benefits.coupons import (
    coupon_issue,
    coupon_redeem,
    coupon_void,
    coupons_expire_due,
    entitlements_issue,
    normalise_code,
)
from benefits.errors import CouponNotRedeemable
from benefits.models import Coupon, Entitlement
from members.models import Member
from members.purchases.baskets import Basket
from tests.factories import MemberFactory, StoreFactory
from tests.tiers.conftest import grow, local
from tiers.models import Plan
from tiers.subscriptions import subscription_start

pytestmark = pytest.mark.django_db

ORDER = Basket(amount=Decimal("120.00"))  # enough for 满100减20


@pytest.fixture
def gold_members(ladder):
    members = [MemberFactory() for _ in range(3)]
    for member in members:
        grow(member, 6_000, local(2026, 10, 5))
    return members


@pytest.fixture
def two_a_month(ladder, free_shipping) -> Entitlement:
    return Entitlement.objects.create(benefit=free_shipping, tier=ladder["gold"], quantity=2)


def test_each_entitled_member_gets_the_period_quantity_once(gold_members, two_a_month):
    bystander = MemberFactory()  # entry tier: not entitled

    assert entitlements_issue(at=local(2026, 11, 1, 0, 30)) == 6
    assert entitlements_issue(at=local(2026, 11, 1, 0, 30)) == 0  # the same run again
    assert entitlements_issue(at=local(2026, 11, 20)) == 0  # later in the month

    coupons = Coupon.objects.filter(entitlement=two_a_month)
    assert coupons.count() == 6 and not coupons.filter(member=bystander).exists()
    assert set(coupons.values_list("period_key", flat=True)) == {"2026-11"}
    first = coupons.first()
    assert (first.valid_from, first.valid_until) == (local(2026, 11, 1, 0, 30), local(2026, 12, 1, 0, 30))
    assert entitlements_issue(at=local(2026, 12, 1, 0, 30)) == 6  # a new month


def test_a_member_reaching_the_tier_mid_month_gets_that_months_coupons_next_run(
    gold_members, two_a_month, ladder
):
    entitlements_issue(at=local(2026, 11, 1))
    late = MemberFactory()
    grow(late, 5_000, local(2026, 11, 10))
    assert entitlements_issue(at=local(2026, 11, 10), member=late) == 2  # at once, for this member only
    assert entitlements_issue(at=local(2026, 11, 11)) == 0
    assert Coupon.objects.filter(member=late).count() == 2


def test_birthday_gifts_come_in_the_birthday_month_once_a_year(ladder, db):
    from benefits.models import Benefit

    gift = Benefit.objects.create(name="生日礼", kind=Benefit.Kind.GIFT)
    Entitlement.objects.create(benefit=gift, tier=ladder["member"], period=Entitlement.Period.BIRTHDAY)
    november = MemberFactory(birthday=datetime.date(1990, 11, 3))
    MemberFactory(birthday=datetime.date(1990, 5, 3))
    frozen = MemberFactory(birthday=datetime.date(1990, 11, 4))
    Member.objects.filter(pk=frozen.pk).update(status=Member.Status.FROZEN)

    assert entitlements_issue(at=local(2026, 11, 2)) == 1
    assert entitlements_issue(at=local(2026, 11, 30)) == 0
    assert Coupon.objects.get().member == november
    assert entitlements_issue(at=local(2027, 11, 2)) == 1


def test_plan_entitlements_go_to_subscribers_whatever_their_tier(ladder, free_shipping):
    from decimal import Decimal

    plus = Plan.objects.create(code="plus", name="PLUS", price=Decimal("199"))
    Entitlement.objects.create(benefit=free_shipping, plan=plus, quantity=1)
    subscriber, other = MemberFactory(), MemberFactory()
    subscription_start(subscriber, plan=plus, payment_ref="P-1", at=local(2026, 11, 1))
    assert entitlements_issue(at=local(2026, 11, 2)) == 1
    assert Coupon.objects.get().member == subscriber and other.coupons.count() == 0


@pytest.fixture
def coupon(twenty_off):
    return coupon_issue(
        MemberFactory(), benefit=twenty_off, origin=Coupon.Origin.MANUAL, at=local(2026, 11, 1)
    )


@pytest.fixture
def till(store, store_staff):
    store.staff.add(store_staff)
    return store, store_staff


def test_codes_are_long_random_and_typed_any_way(twenty_off):
    member = MemberFactory()
    codes = {coupon_issue(member, benefit=twenty_off, origin=Coupon.Origin.MANUAL).code for _ in range(200)}
    assert len(codes) == 200 and all(len(code) == 16 for code in codes)
    assert not any(ch in "01ILOU" for code in codes for ch in code)
    assert normalise_code(" abcd-efgh jkmn-pqrs ") == "ABCDEFGHJKMNPQRS"


def test_redeeming_records_store_and_user_and_works_once(coupon, till):
    store, staff = till
    typed = coupon.display_code.lower()

    done = coupon_redeem(
        code=typed, store=store, user=staff, basket=ORDER, at=local(2026, 11, 5, 12, 0)
    ).coupon

    assert (done.status, done.redeemed_store, done.redeemed_by) == ("redeemed", store, staff)
    assert done.redeemed_at == local(2026, 11, 5, 12, 0)
    with pytest.raises(CouponNotRedeemable) as caught:
        coupon_redeem(code=coupon.code, store=store, user=staff, basket=ORDER, at=local(2026, 11, 5, 12, 1))
    assert caught.value.message == "Already redeemed at S0000 上海徐汇店 on 2026-11-05 12:00."
    coupon.refresh_from_db()
    assert coupon.redeemed_at == local(2026, 11, 5, 12, 0)


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (local(2027, 1, 1), "Expired on 2026-12-31 00:00."),
        (local(2026, 10, 1), "Not valid before 2026-11-01 00:00."),
    ],
)
def test_out_of_date_coupons_are_refused_with_the_reason(coupon, till, when, message):
    store, staff = till
    with pytest.raises(CouponNotRedeemable) as caught:
        coupon_redeem(code=coupon.code, store=store, user=staff, at=when)
    assert caught.value.message == message
    coupon.refresh_from_db()
    assert coupon.status == "issued"


def test_unknown_codes_and_other_stores_are_refused(coupon, till):
    store, staff = till
    with pytest.raises(CouponNotRedeemable, match="No coupon has this code"):
        coupon_redeem(code="NOT-A-CODE", store=store, user=staff)
    with pytest.raises(PermissionDenied):
        coupon_redeem(code=coupon.code, store=StoreFactory(), user=staff)
    coupon.refresh_from_db()
    assert coupon.status == "issued"


def test_a_frozen_members_coupon_or_a_closed_store_is_refused(coupon, till):
    store, staff = till
    Member.objects.filter(pk=coupon.member_id).update(status=Member.Status.FROZEN)
    with pytest.raises(CouponNotRedeemable, match="account is Frozen"):
        coupon_redeem(code=coupon.code, store=store, user=staff, at=local(2026, 11, 5))
    Member.objects.filter(pk=coupon.member_id).update(status=Member.Status.ACTIVE)
    store.is_active = False
    store.save()
    with pytest.raises(CouponNotRedeemable, match="is closed"):
        coupon_redeem(code=coupon.code, store=store, user=staff, at=local(2026, 11, 5))
    coupon.refresh_from_db()
    assert coupon.status == "issued"


def test_a_voided_coupon_cannot_be_redeemed(coupon, till, operator):
    store, staff = till
    coupon_void(coupon, actor=operator, reason="Issued in error", at=local(2026, 11, 2))
    assert (coupon.status, coupon.voided_by) == ("voided", operator)
    with pytest.raises(CouponNotRedeemable, match="voided: Issued in error"):
        coupon_redeem(code=coupon.code, store=store, user=staff, at=local(2026, 11, 3))


def test_expiry_job_marks_unused_coupons_expired_once(coupon, till):
    store, staff = till
    used = coupon_issue(coupon.member, benefit=coupon.benefit, origin="manual", at=local(2026, 11, 1))
    coupon_redeem(code=used.code, store=store, user=staff, basket=ORDER, at=local(2026, 11, 2))
    assert coupons_expire_due(now=local(2026, 12, 31)) == 1
    assert coupons_expire_due(now=local(2026, 12, 31)) == 0
    assert set(Coupon.objects.values_list("status", flat=True)) == {"expired", "redeemed"}
