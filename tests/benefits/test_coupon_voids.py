"""Redeeming against a basket records the redemption; undoing it (void) within the benefit's
window, or when its order is cancelled, gives the coupon back, and says who did it and when."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied

from benefits.coupons import coupon_issue, coupon_redeem, coupon_redemption_void
from benefits.errors import (
    CouponBasketRequired,
    CouponMinimumSpend,
    CouponOrderMismatch,
    CouponVoidWindowPassed,
)
from benefits.models import Coupon, CouponRedemption
from members.purchases.baskets import Basket
from tests.api.conftest import make_partner
from tests.factories import MemberFactory, StoreFactory
from tests.tiers.conftest import local

pytestmark = pytest.mark.django_db

UNDO, CANCELLED = CouponRedemption.VoidReason.UNDO, CouponRedemption.VoidReason.ORDER_CANCELLED
NOON = local(2026, 11, 5, 12, 0)
MINUTE = datetime.timedelta(minutes=1)
ORDER = Basket(amount=Decimal("128.00"), order_number="POS-20261105-0042")


@pytest.fixture
def coupon(twenty_off) -> Coupon:  # 满100减20, valid 60 days from Nov 1st, undoable for 30 minutes
    return coupon_issue(
        MemberFactory(), benefit=twenty_off, origin=Coupon.Origin.MANUAL, at=local(2026, 11, 1)
    )


@pytest.fixture
def till(store, store_staff):
    store.staff.add(store_staff)
    return store, store_staff


def redeem(coupon, till, basket=ORDER, at=NOON) -> CouponRedemption:
    store, staff = till
    return coupon_redeem(code=coupon.code, store=store, user=staff, basket=basket, at=at)


def test_redeeming_records_the_basket_the_discount_and_the_window(coupon, till):
    redemption = redeem(coupon, till)
    store, staff = till
    assert (redemption.store, redemption.redeemed_by, redemption.channel) == (store, staff, "store")
    assert (redemption.order_number, redemption.amount) == ("POS-20261105-0042", Decimal("128.00"))
    assert (redemption.eligible_amount, redemption.discount) == (Decimal("128.00"), Decimal("20.00"))
    assert redemption.void_until == local(2026, 11, 5, 12, 30)
    assert redemption.coupon.status == "redeemed"


def test_a_coupon_with_a_minimum_spend_is_refused_without_a_basket_or_below_it(coupon, till):
    with pytest.raises(CouponBasketRequired):
        redeem(coupon, till, Basket())
    with pytest.raises(CouponMinimumSpend):
        redeem(coupon, till, Basket(amount=Decimal("99.99")))
    coupon.refresh_from_db()
    assert coupon.status == "issued" and not CouponRedemption.objects.exists()
    assert redeem(coupon, till, Basket(amount=Decimal("100.00"))).discount == Decimal("20.00")


def test_undoing_within_the_window_gives_the_coupon_back_to_be_redeemed_again(coupon, till):
    _store, staff = till
    first = redeem(coupon, till)

    undone = coupon_redemption_void(first, actor=staff, reason=UNDO, note="顾客换了券", at=NOON + 29 * MINUTE)

    assert (undone.voided_at, undone.voided_by, undone.void_reason) == (NOON + 29 * MINUTE, staff, "undo")
    assert undone.void_note == "顾客换了券"
    coupon.refresh_from_db()
    assert (coupon.status, coupon.redeemed_at, coupon.redeemed_store, coupon.redeemed_by) == (
        "issued",
        None,
        None,
        None,
    )
    again = redeem(coupon, till, Basket(amount=Decimal("150.00")), at=NOON + 40 * MINUTE)
    assert again.pk != first.pk and again.amount == Decimal("150.00")
    coupon.refresh_from_db()
    assert coupon.status == "redeemed" and coupon.redeemed_at == NOON + 40 * MINUTE
    # the history keeps both: the first undone, the second standing
    assert list(coupon.coupon_redemptions.order_by("pk").values_list("voided_at", flat=True)) == [
        NOON + 29 * MINUTE,
        None,
    ]


def test_undoing_after_the_window_is_refused_and_changes_nothing(coupon, till):
    _store, staff = till
    redemption = redeem(coupon, till)
    with pytest.raises(CouponVoidWindowPassed) as late:
        coupon_redemption_void(redemption, actor=staff, reason=UNDO, at=NOON + 30 * MINUTE)  # 12:30 is past
    assert late.value.code == "coupon_void_window_passed"
    assert late.value.details["answer"] == {"void_until": local(2026, 11, 5, 12, 30).isoformat()}
    assert "2026-11-05 12:30" in late.value.message
    coupon.refresh_from_db()
    redemption.refresh_from_db()
    assert coupon.status == "redeemed" and redemption.voided_at is None


def test_a_cancelled_order_undoes_it_at_any_time_naming_the_order(coupon, till):
    _store, staff = till
    redemption = redeem(coupon, till)
    next_week = NOON + datetime.timedelta(days=7)
    with pytest.raises(CouponOrderMismatch) as wrong:
        coupon_redemption_void(
            redemption, actor=staff, reason=CANCELLED, order_number="POS-OTHER", at=next_week
        )
    assert wrong.value.details["field"] == "order_number"

    undone = coupon_redemption_void(
        redemption, actor=staff, reason=CANCELLED, order_number="POS-20261105-0042", at=next_week
    )

    assert (undone.void_reason, undone.voided_at) == ("order_cancelled", next_week)
    coupon.refresh_from_db()
    assert coupon.status == "issued"


def test_a_redemption_without_an_order_number_is_not_undone_as_a_cancelled_order(coupon, till):
    _store, staff = till
    redemption = redeem(coupon, till, Basket(amount=Decimal(100)))
    with pytest.raises(CouponOrderMismatch):
        coupon_redemption_void(redemption, actor=staff, reason=CANCELLED, order_number="", at=NOON)


def test_undoing_twice_answers_the_first_undo(coupon, till):
    _store, staff = till
    redemption = redeem(coupon, till)
    first = coupon_redemption_void(redemption, actor=staff, reason=UNDO, at=NOON + MINUTE)
    again = coupon_redemption_void(redemption, actor=staff, reason=UNDO, at=NOON + 2 * MINUTE)
    late = coupon_redemption_void(redemption, actor=staff, reason=UNDO, at=NOON + datetime.timedelta(hours=3))
    assert again.voided_at == late.voided_at == first.voided_at == NOON + MINUTE
    assert CouponRedemption.objects.get().voided_at == NOON + MINUTE


def test_a_coupon_whose_time_ran_out_meanwhile_goes_to_expired(coupon, till):
    _store, staff = till
    redemption = redeem(coupon, till, at=local(2026, 12, 30, 23, 50))  # valid until Dec 31st 00:00
    coupon_redemption_void(
        redemption, actor=staff, reason=CANCELLED, order_number=ORDER.order_number, at=local(2027, 1, 3)
    )
    coupon.refresh_from_db()
    assert (coupon.status, coupon.redeemed_at) == ("expired", None)


def test_only_the_store_or_whoever_redeemed_may_undo(coupon, till, make_user):
    from config.common.roles import Role

    store, _staff = till
    colleague = make_user(Role.STORE_STAFF, "colleague")
    store.staff.add(colleague)
    elsewhere = make_user(Role.STORE_STAFF, "elsewhere")
    StoreFactory().staff.add(elsewhere)
    redemption = redeem(coupon, till)

    with pytest.raises(PermissionDenied):
        coupon_redemption_void(redemption, actor=elsewhere, reason=UNDO, at=NOON + MINUTE)
    coupon.refresh_from_db()
    assert coupon.status == "redeemed"
    undone = coupon_redemption_void(redemption, actor=colleague, reason=UNDO, at=NOON + MINUTE)
    assert undone.voided_by == colleague


def test_an_api_partner_undoes_only_its_own(coupon, till, twenty_off):
    """A partner acts through an inactive service user: it redeems at its stores, but undoes only
    the redemptions it made, not the counter's at the same store (whose staff may undo its)."""
    store, _staff = till
    partner, _key = make_partner("pos-x", "X001")
    partner.stores.add(store)
    counters = redeem(coupon, till)
    with pytest.raises(PermissionDenied):
        coupon_redemption_void(counters, actor=partner.user, reason=UNDO, at=NOON + MINUTE)
    other = coupon_issue(
        coupon.member, benefit=twenty_off, origin=Coupon.Origin.MANUAL, at=local(2026, 11, 1)
    )
    partners = coupon_redeem(code=other.code, store=store, user=partner.user, basket=ORDER, at=NOON)
    assert coupon_redemption_void(partners, actor=partner.user, reason=UNDO, at=NOON + MINUTE).voided_at
    counters.refresh_from_db()
    assert counters.voided_at is None


def test_a_window_of_zero_leaves_only_a_cancelled_order(coupon, till, twenty_off):
    _store, staff = till
    twenty_off.void_window_minutes = 0
    twenty_off.save()
    redemption = redeem(coupon, till)
    assert redemption.void_until is None
    with pytest.raises(CouponVoidWindowPassed):
        coupon_redemption_void(redemption, actor=staff, reason=UNDO, at=NOON)
    undone = coupon_redemption_void(
        redemption, actor=staff, reason=CANCELLED, order_number=ORDER.order_number, at=NOON
    )
    assert undone.void_reason == "order_cancelled"


def test_a_coupon_redeemed_again_after_an_undo_is_announced_again(coupon, till):
    """``coupon.redeemed`` is keyed by the redemption: the second use is news too."""
    import json

    from members.webhooks.models import WebhookEvent
    from tests.webhooks.conftest import make_partner as make_subscriber
    from tests.webhooks.conftest import subscribe

    subscribe(make_subscriber("brand", first_party=True), "http://93.184.215.14/hook")
    _store, staff = till
    first = redeem(coupon, till)
    coupon_redemption_void(first, actor=staff, reason=UNDO, at=NOON + MINUTE)
    redeem(coupon, till, at=NOON + 2 * MINUTE)
    events = WebhookEvent.objects.filter(event_type="coupon.redeemed").order_by("pk")
    stamps = [json.loads(body)["data"]["redeemed_at"] for body in events.values_list("body", flat=True)]
    assert stamps == [NOON.isoformat(), (NOON + 2 * MINUTE).isoformat()]


def test_a_redeemed_coupon_moves_back_to_issued_only():
    S = Coupon.Status
    assert Coupon.MOVES.sources(S.ISSUED) == (S.REDEEMED,)
    assert Coupon.MOVES.sources(S.EXPIRED) == (S.ISSUED,)  # the nightly job never expires a used one
    assert not Coupon.MOVES.final(S.REDEEMED)


def test_an_undo_says_why(coupon, till):
    from django.core.exceptions import ValidationError

    _store, staff = till
    redemption = redeem(coupon, till)
    with pytest.raises(ValidationError) as refused:
        coupon_redemption_void(redemption, actor=staff, reason="whim", at=NOON)
    assert set(refused.value.message_dict) == {"void_reason"}
    redemption.refresh_from_db()
    assert redemption.voided_at is None
