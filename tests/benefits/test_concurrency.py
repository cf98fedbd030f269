"""Tills and apps racing for the same reward, coupon or entitlement on PostgreSQL: the last unit
goes to one member, a coupon is redeemed once (and a stale undo cannot undo its next
redemption), a period's coupons are issued once, a redemption is cancelled or shipped (not
both), and an operator's stock edit keeps the units redeemed meanwhile.
Each lock test has its control beside it (``[control...]``): the same race with the lock off.

Each test commits for real (``transaction=True``); the database is emptied after each, so the
data migrations' rows (point types, entry tier, tier policy) are put back first.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, OperationalError, connection

from benefits.coupons import (
    coupon_issue,
    coupon_redeem,
    coupon_redemption_void,
    coupons_expire_due,
    entitlements_issue,
)
from benefits.errors import CouponNotRedeemable, NotCancellable, OutOfStock
from benefits.models import Benefit, Coupon, CouponRedemption, Entitlement, Redemption, Reward
from benefits.rewards import redemption_advance, redemption_cancel, reward_redeem, reward_update
from members.purchases.baskets import Basket
from points.models import Account, Entry
from points.selectors import ledger_problems
from tests.benefits.conftest import give_points
from tests.concurrency import FIRST_WRITE, LOCKED_AND_CONTROL, Last, race, unless
from tests.factories import MemberFactory, StoreFactory
from tests.tiers.conftest import grow, local
from tiers.models import Tier, TierChange
from tiers.services import tiers_review_due

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and races need PostgreSQL"),
]

T = local(2026, 11, 10, 15, 0)
MINUTE = datetime.timedelta(minutes=1)


def test_twenty_members_racing_for_the_last_unit_one_gets_it_the_others_keep_their_points():
    reward = Reward.objects.create(name="限量保温杯", kind=Reward.Kind.PHYSICAL, points_price=8000, stock=1)
    members = [MemberFactory() for _ in range(20)]
    for member in members:
        give_points(member, 10_000)

    results = race(20, lambda i: reward_redeem_for(members[i], reward, key=f"app-{i}"))

    won = [r for r in results if isinstance(r, Redemption)]
    assert len(won) == 1, results
    assert all(isinstance(r, OutOfStock) for r in results if r not in won)
    reward.refresh_from_db()
    assert reward.stock == 0
    balances = dict(Account.objects.filter(point_type__code="points").values_list("member_id", "available"))
    winner = won[0].member_id
    assert balances[winner] == 2000
    assert all(balances[m.pk] == 10_000 for m in members if m.pk != winner)
    assert Entry.objects.filter(kind="spend").count() == 1
    assert ledger_problems() == {}


def reward_redeem_for(member, reward, *, key):
    from benefits.rewards import reward_redeem

    return reward_redeem(member=member, reward=reward, idempotency_key=key, at=T)


def test_the_same_redemption_sent_ten_times_at_once_is_one_redemption():
    benefit = Benefit.objects.create(name="满100减20", kind=Benefit.Kind.AMOUNT_OFF, value=20)
    reward = Reward.objects.create(name="券", kind=Reward.Kind.COUPON, points_price=1000, benefit=benefit)
    member = MemberFactory()
    give_points(member, 5000)

    results = race(10, lambda i: reward_redeem_for(member, reward, key="same-key"))

    assert all(isinstance(r, Redemption) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert Account.objects.get(member=member, point_type__code="points").available == 4000
    assert Coupon.objects.count() == 1


def test_one_coupon_scanned_at_two_tills_at_the_same_moment_is_redeemed_once():
    from django.contrib.auth.models import User

    benefit = Benefit.objects.create(name="包邮券", kind=Benefit.Kind.FREE_SHIPPING)
    coupon = coupon_issue(
        MemberFactory(), benefit=benefit, origin=Coupon.Origin.MANUAL, at=local(2026, 11, 1)
    )
    stores = [StoreFactory(), StoreFactory()]
    users = [User.objects.create_user(f"till{i}", is_staff=True) for i in range(2)]
    for store, user in zip(stores, users, strict=True):
        store.staff.add(user)

    results = race(2, lambda i: coupon_redeem(code=coupon.code, store=stores[i], user=users[i], at=T))

    assert sum(isinstance(r, CouponRedemption) for r in results) == 1, results
    assert sum(isinstance(r, CouponNotRedeemable) for r in results) == 1
    coupon.refresh_from_db()
    winner = next(i for i, r in enumerate(results) if isinstance(r, CouponRedemption))
    assert (coupon.redeemed_store, coupon.redeemed_by) == (stores[winner], users[winner])


def test_two_issuing_jobs_at_once_issue_each_coupon_once():
    gold = Tier.objects.create(rank=1, code="gold", name="金卡", threshold=100)
    benefit = Benefit.objects.create(name="包邮券", kind=Benefit.Kind.FREE_SHIPPING)
    Entitlement.objects.create(benefit=benefit, tier=gold, quantity=2)
    for _ in range(30):
        grow(MemberFactory(), 200, local(2026, 10, 1))

    results = race(2, lambda i: entitlements_issue(at=T, batch=7))

    assert sum(results) == 60 and Coupon.objects.count() == 60


def test_two_review_jobs_at_once_review_each_member_once():
    Tier.objects.create(rank=1, code="silver", name="银卡", threshold=100)
    members = [MemberFactory() for _ in range(40)]
    for member in members:
        grow(member, 150, local(2026, 3, 1))

    results = race(2, lambda i: tiers_review_due(now=local(2028, 1, 1), batch=5))

    assert sum(results) == 80  # two periods (2026 kept, 2027 dropped) per member, once each
    assert TierChange.objects.filter(reason="downgrade").count() == 40


def after(table: str) -> Any:
    """The statement after the thread's first read of ``table``."""
    seen = False

    def point(sql: str, _params: Any) -> bool:
        nonlocal seen
        if seen:
            return True
        seen = sql.lstrip().startswith("SELECT") and f'FROM "{table}"' in sql
        return False

    return point


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_issuing_jobs_reading_at_once_issue_each_coupon_once(locked: bool):
    """Both jobs read which coupons the chunk has before either writes: the second waits for the
    first and issues nothing more. Without the lock both issue, and the second breaks on the
    unique constraint (a failed job)."""
    gold = Tier.objects.create(rank=1, code="gold", name="金卡", threshold=100)
    benefit = Benefit.objects.create(name="包邮券", kind=Benefit.Kind.FREE_SHIPPING)
    Entitlement.objects.create(benefit=benefit, tier=gold, quantity=2)
    for _ in range(3):
        grow(MemberFactory(), 200, local(2026, 10, 1))

    with unless(locked, "benefits/coupons.py::entitlements_issue"):
        results = race(2, lambda i: entitlements_issue(at=T), meet=r'^INSERT INTO "benefits_coupon"')

    assert Coupon.objects.count() == 6
    if locked:
        assert sorted(results) == [0, 6]
    else:
        assert sum(isinstance(r, IntegrityError) for r in results) == 1, results


@pytest.fixture
def operator() -> User:
    return User.objects.create_user("operator-race", is_staff=True)


def redeemed(reward: Reward, points: int = 10_000) -> Redemption:
    member = MemberFactory()
    give_points(member, points)
    return reward_redeem(member=member, reward=reward, idempotency_key="first", at=T)


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_a_cancellation_and_a_new_redemption_of_one_reward_at_once_never_deadlock(locked: bool, operator):
    """The member redeems the gift again while an operator cancels the first redemption: both go
    through. The cancellation takes the reward's lock first, as a redemption does; without it, it
    holds the member's points (the refund) and waits for the reward while the redemption holds
    the reward and waits for the points: a deadlock, and one of them fails."""
    reward = Reward.objects.create(name="保温杯", kind=Reward.Kind.PHYSICAL, points_price=1000, stock=5)
    first = redeemed(reward)
    member = first.member

    def work(i: int) -> Any:
        if i == 0:
            return redemption_cancel(first, actor=operator, reason="客户改主意", at=T)
        return reward_redeem(member=member, reward=reward, idempotency_key="again", at=T)

    with unless(locked, "benefits/rewards.py::redemption_cancel#1"):
        results = race(
            2,
            work,
            meet=[Last(r'^UPDATE "benefits_reward"'), r'FROM "points_account".*FOR UPDATE'],
        )

    if locked:
        assert all(isinstance(r, Redemption) for r in results), results
        reward.refresh_from_db()
        assert reward.stock == 4
    else:
        assert sum(isinstance(r, OperationalError) and "deadlock" in str(r) for r in results) == 1, results


@pytest.mark.parametrize(
    "off",
    [None, "benefits/rewards.py::redemption_cancel#2", "benefits/rewards.py::redemption_advance"],
    ids=["locked", "control-cancel", "control-advance"],
)
def test_a_gift_shipped_and_cancelled_at_once_is_one_or_the_other(off: str | None, operator):
    """The warehouse ships the gift while an operator cancels the redemption: one of them is
    refused. Without either lock both go through: the member gets the gift and the points back."""
    reward = Reward.objects.create(name="保温杯", kind=Reward.Kind.PHYSICAL, points_price=1000, stock=5)
    redemption = redeemed(reward)
    actions = [
        lambda: redemption_cancel(redemption, actor=operator, reason="客户改主意", at=T),
        lambda: redemption_advance(redemption, actor=operator, tracking_number="SF100", at=T),
    ]

    with unless(off is None, *([off] if off else [])):
        results = race(2, lambda i: actions[i](), meet=FIRST_WRITE)

    refused = [r for r in results if isinstance(r, NotCancellable)]
    assert all(isinstance(r, (Redemption, NotCancellable)) for r in results), results
    assert len(refused) == (1 if off is None else 0)


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_a_cancellation_as_its_coupon_expires_goes_through(locked: bool, operator):
    """The nightly expiry reaches the coupon while an operator cancels the redemption that bought
    it: the cancellation goes through (the coupon voided, the points back). Without the coupon's
    lock the cancellation read it unused, the job expired it meanwhile, and the void is refused."""
    benefit = Benefit.objects.create(name="满100减20", kind=Benefit.Kind.AMOUNT_OFF, value=20, valid_days=30)
    reward = Reward.objects.create(name="券", kind=Reward.Kind.COUPON, points_price=1000, benefit=benefit)
    redemption = redeemed(reward)
    expiry = redemption.coupon.valid_until

    def work(i: int) -> Any:
        if i == 0:
            return redemption_cancel(redemption, actor=operator, reason="客户改主意", at=expiry)
        return coupons_expire_due(now=expiry)

    with unless(locked, "benefits/rewards.py::redemption_cancel#3"):
        results = race(2, work, meet=[Last(after("benefits_coupon")), r'^UPDATE "benefits_coupon"'])

    if locked:
        assert isinstance(results[0], Redemption), results
        assert Account.objects.get(member=redemption.member, point_type__code="points").available == 10_000
    else:
        assert isinstance(results[0], CouponNotRedeemable), results


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_a_stock_edit_while_a_unit_is_redeemed_keeps_that_unit_redeemed(locked: bool):
    """An operator who saw 5 in stock types 10 while a member redeems one: 9 are left (5 more
    than the 4 there were). Without the lock the edit counted from the 5 it read: 10."""
    reward = Reward.objects.create(name="保温杯", kind=Reward.Kind.PHYSICAL, points_price=1000, stock=5)
    member = MemberFactory()
    give_points(member, 10_000)

    edited = Reward.objects.get(pk=reward.pk)
    edited.stock = 10

    def work(i: int) -> Any:
        if i == 0:
            return reward_update(edited, stock_shown=5)
        return reward_redeem(member=member, reward=reward, idempotency_key="app-1", at=T)

    with unless(locked, "benefits/rewards.py::reward_update"):
        results = race(2, work, meet=[Last(after("benefits_reward")), r'^UPDATE "benefits_reward"'])

    assert not [r for r in results if isinstance(r, Exception)], results
    reward.refresh_from_db()
    assert reward.stock == (9 if locked else 10)


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_members_deciding_on_the_last_unit_at_once_one_gets_it(locked: bool):
    """Both apps have read "1 left" before either writes: one member gets the cup, the other is
    told it is out of stock and keeps the points. Without the reward's lock both spend, and the
    second breaks on the stock going below zero (a database error, a 500 at the API)."""
    reward = Reward.objects.create(name="限量保温杯", kind=Reward.Kind.PHYSICAL, points_price=8000, stock=1)
    members = [MemberFactory(), MemberFactory()]
    for member in members:
        give_points(member, 10_000)

    with unless(locked, "benefits/rewards.py::reward_redeem"):
        results = race(2, lambda i: reward_redeem_for(members[i], reward, key=f"app-{i}"), meet=FIRST_WRITE)

    assert sum(isinstance(r, Redemption) for r in results) == 1, results
    if locked:
        assert sum(isinstance(r, OutOfStock) for r in results) == 1, results
    else:
        assert sum(isinstance(r, IntegrityError) for r in results) == 1, results


# --- undoing a redemption ------------------------------------------------------------------------


def till_and_coupon():
    """A coupon (满100减20) redeemed at a store with two tills, each with its staff user."""
    benefit = Benefit.objects.create(
        name="满100减20", kind=Benefit.Kind.AMOUNT_OFF, value=20, min_spend=100, valid_days=30
    )
    coupon = coupon_issue(
        MemberFactory(), benefit=benefit, origin=Coupon.Origin.MANUAL, at=local(2026, 11, 1)
    )
    store = StoreFactory()
    users = [User.objects.create_user(f"till-{i}", is_staff=True) for i in range(2)]
    for user in users:
        store.staff.add(user)
    first = coupon_redeem(code=coupon.code, store=store, user=users[0], basket=BASKET, at=T)
    return coupon, store, users, first


BASKET = Basket(amount=Decimal("120.00"))
UNDO = CouponRedemption.VoidReason.UNDO


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_a_stale_undo_cannot_undo_the_coupons_next_redemption(locked: bool):
    """One till undoes a redemption while, at the other, the same redemption is undone and the
    coupon redeemed again: the coupon stays redeemed by its new redemption. Without the coupon's
    lock the first undo read the coupon before the others committed and puts it back to issued
    under the new redemption: a coupon redeemed, and redeemable once more."""
    coupon, store, users, first = till_and_coupon()

    def work(i: int) -> Any:
        if i == 0:
            return coupon_redemption_void(first, actor=users[0], reason=UNDO, at=T + MINUTE)
        coupon_redemption_void(first, actor=users[1], reason=UNDO, at=T + MINUTE)
        return coupon_redeem(code=coupon.code, store=store, user=users[1], basket=BASKET, at=T + 2 * MINUTE)

    with unless(locked, "benefits/coupons.py::coupon_redemption_void"):
        results = race(2, work, meet=[Last(FIRST_WRITE), r"^\s*SELECT"])

    assert not [r for r in results if isinstance(r, Exception)], results
    coupon.refresh_from_db()
    standing = CouponRedemption.objects.get(voided_at__isnull=True)
    assert standing.pk == results[1].pk != first.pk
    assert coupon.status == ("redeemed" if locked else "issued")


def test_the_same_redemption_undone_at_two_tills_at_once_is_undone_once():
    coupon, _store, users, first = till_and_coupon()

    results = race(2, lambda i: coupon_redemption_void(first, actor=users[i], reason=UNDO, at=T + i * MINUTE))

    assert all(isinstance(r, CouponRedemption) for r in results), results
    assert results[0].voided_at == results[1].voided_at  # the second answered the first's undo
    undone = CouponRedemption.objects.get()
    assert (undone.voided_at, undone.voided_by) == (results[0].voided_at, results[0].voided_by)
    coupon.refresh_from_db()
    assert coupon.status == "issued"
