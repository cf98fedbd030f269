"""The rewards catalogue: points buy rewards through the ledger, stock and limits hold, and a
cancellation gives back exactly what was taken."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from benefits.coupons import coupon_void
from benefits.errors import (
    CouponNotRedeemable,
    LimitReached,
    NotCancellable,
    OutOfStock,
    RewardUnavailable,
    StatusChanged,
    TierRequired,
)
from benefits.models import Coupon, Redemption, Reward
from benefits.rewards import redemption_advance, redemption_cancel, reward_redeem
from config.common.errors import IdempotencyConflict
from points.errors import InsufficientPoints
from points.models import Account, Lot
from points.selectors import ledger_problems
from tests.benefits.conftest import give_points
from tests.factories import MemberFactory
from tests.tiers.conftest import grow, local

pytestmark = pytest.mark.django_db

T = local(2026, 11, 10, 15, 0)


def balance(member) -> int:
    return Account.objects.get(member=member, point_type__code="points").available


@pytest.fixture(autouse=True)
def books_balance(db):
    yield
    assert ledger_problems() == {}


@pytest.fixture
def rich(db):
    member = MemberFactory()
    give_points(member, 10_000)
    return member


def test_a_coupon_reward_spends_points_and_issues_the_coupon(rich, voucher, operator):
    redemption = reward_redeem(member=rich, reward=voucher, idempotency_key="app-1", actor=operator, at=T)

    assert (redemption.status, redemption.points) == ("completed", 2000)
    assert balance(rich) == 8000
    assert redemption.spend.amount == -2000 and redemption.spend.source_ref == f"reward:{voucher.pk}"
    coupon = redemption.coupon
    assert (coupon.benefit.name, coupon.member, coupon.origin, coupon.status) == (
        "满100减20",
        rich,
        Coupon.Origin.REWARD,
        "issued",
    )


def test_a_retry_with_the_same_key_is_the_same_redemption(rich, voucher):
    first = reward_redeem(member=rich, reward=voucher, idempotency_key="app-1", at=T)
    again = reward_redeem(member=rich, reward=voucher, idempotency_key="app-1", at=T)
    assert again == first and balance(rich) == 8000 and Coupon.objects.count() == 1
    with pytest.raises(IdempotencyConflict):
        reward_redeem(member=MemberFactory(), reward=voucher, idempotency_key="app-1", at=T)


def test_stock_runs_out_and_the_last_buyer_beyond_it_keeps_their_points(tote):
    members = [MemberFactory() for _ in range(6)]
    for member in members:
        give_points(member, 3000)
    for i, member in enumerate(members[:5]):
        reward_redeem(member=member, reward=tote, idempotency_key=f"k{i}", ship_to="上海市徐汇区", at=T)
    with pytest.raises(OutOfStock):
        reward_redeem(member=members[5], reward=tote, idempotency_key="k5", at=T)
    tote.refresh_from_db()
    assert tote.stock == 0 and balance(members[5]) == 3000
    assert Redemption.objects.filter(status="requested").count() == 5


def test_not_enough_points_takes_no_stock(tote):
    poor = MemberFactory()
    give_points(poor, 2999)
    with pytest.raises(InsufficientPoints):
        reward_redeem(member=poor, reward=tote, idempotency_key="k", at=T)
    tote.refresh_from_db()
    assert tote.stock == 5 and not Redemption.objects.exists() and balance(poor) == 2999


def test_per_member_limit_counts_what_was_not_cancelled(rich, voucher, operator):
    voucher.per_member_limit = 1
    voucher.save()
    first = reward_redeem(member=rich, reward=voucher, idempotency_key="a", at=T)
    with pytest.raises(LimitReached):
        reward_redeem(member=rich, reward=voucher, idempotency_key="b", at=T)
    redemption_cancel(first, actor=operator, reason="Changed mind", at=T)
    reward_redeem(member=rich, reward=voucher, idempotency_key="c", at=T)


def test_tier_restricted_rewards(rich, voucher, ladder):
    voucher.min_tier = ladder["gold"]
    voucher.save()
    with pytest.raises(TierRequired, match="金卡 members and above"):
        reward_redeem(member=rich, reward=voucher, idempotency_key="a", at=T)
    grow(rich, 5_000, T)
    assert reward_redeem(member=rich, reward=voucher, idempotency_key="b", at=T).status == "completed"


@pytest.mark.parametrize(
    "change",
    [{"active": False}, {"valid_from": local(2026, 12, 1)}, {"valid_until": local(2026, 11, 1)}],
)
def test_rewards_off_offer_cannot_be_redeemed(rich, voucher, change):
    Reward.objects.filter(pk=voucher.pk).update(**change)
    with pytest.raises(RewardUnavailable):
        reward_redeem(member=rich, reward=voucher, idempotency_key="a", at=T)
    assert balance(rich) == 10_000


def test_cancel_refunds_the_points_with_their_expiry_dates_restocks_and_voids_the_coupon(
    rich, voucher, operator, points_type_rolling
):
    early = MemberFactory()
    give_points(early, 1500, at=local(2026, 1, 5))  # expires 2027-01-05
    give_points(early, 1000, at=local(2026, 6, 5))  # expires 2027-06-05
    voucher.stock = 3
    voucher.save()
    redemption = reward_redeem(member=early, reward=voucher, idempotency_key="a", at=T)
    assert balance(early) == 500

    cancelled = redemption_cancel(redemption, actor=operator, reason="Member asked", at=T)

    assert cancelled.status == "cancelled" and cancelled.refund.amount == 2000
    assert balance(early) == 2500
    voucher.refresh_from_db()
    assert voucher.stock == 3
    assert cancelled.coupon.status == "voided"
    refunded = Lot.objects.filter(entry=cancelled.refund).order_by("expires_at")
    assert [(lot.amount, lot.expires_at) for lot in refunded] == [
        (1500, local(2027, 1, 5)),
        (500, local(2027, 6, 5)),
    ]
    with pytest.raises(NotCancellable):
        redemption_cancel(cancelled, actor=operator, reason="again", at=T)
    assert balance(early) == 2500


def test_a_used_coupon_or_a_shipped_gift_cannot_be_cancelled(
    rich, voucher, tote, operator, store, store_staff
):
    from benefits.coupons import coupon_redeem
    from members.purchases.baskets import Basket

    store.staff.add(store_staff)
    bought = reward_redeem(member=rich, reward=voucher, idempotency_key="a", at=T)
    coupon_redeem(
        code=bought.coupon.code, store=store, user=store_staff, basket=Basket(amount=Decimal(100)), at=T
    )
    with pytest.raises(NotCancellable, match="already used"):
        redemption_cancel(bought, actor=operator, reason="x", at=T)

    gift = reward_redeem(member=rich, reward=tote, idempotency_key="b", at=T)
    gift = redemption_advance(gift, actor=operator, tracking_number="SF1234567890", at=T)
    assert (gift.status, gift.tracking_number) == ("shipped", "SF1234567890")
    with pytest.raises(StatusChanged, match="It is Shipped now"):  # a second operator's stale click
        redemption_advance(gift, actor=operator, expected="requested", at=T)
    with pytest.raises(CouponNotRedeemable, match="cancel its redemption"):
        coupon_void(bought.coupon, actor=operator, reason="x")
    with pytest.raises(NotCancellable):
        redemption_cancel(gift, actor=operator, reason="x", at=T)
    assert redemption_advance(gift, actor=operator, at=T).status == "delivered"
    with pytest.raises(NotCancellable, match="no next step"):
        redemption_advance(gift, actor=operator, at=T)
    assert gift.history.first().history_user == operator


def test_a_key_is_required(rich, voucher):
    with pytest.raises(ValidationError):
        reward_redeem(member=rich, reward=voucher, idempotency_key="", at=T)
