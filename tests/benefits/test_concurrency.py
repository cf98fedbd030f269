"""Tills and apps racing for the same reward, coupon or entitlement on PostgreSQL: the last unit
goes to one member, a coupon is redeemed once, a period's coupons are issued once.

Each test commits for real (``transaction=True``); the database is emptied after each, so the
data migrations' rows (point types, entry tier, tier policy) are put back first.
"""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.db import connection

from benefits.coupons import coupon_issue, coupon_redeem, entitlements_issue
from benefits.errors import CouponNotRedeemable, OutOfStock
from benefits.models import Benefit, Coupon, Entitlement, Redemption, Reward
from points.models import Account, Entry
from points.selectors import ledger_problems
from tests.benefits.conftest import give_points
from tests.concurrency import race
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


@pytest.fixture(autouse=True)
def migrated_rows(transactional_db) -> None:
    importlib.import_module("points.migrations.0002_point_types_and_append_only").create_point_types(
        apps, None
    )
    importlib.import_module("tiers.migrations.0002_entry_tier_and_policy").create(apps, None)


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

    assert sum(isinstance(r, Coupon) for r in results) == 1, results
    assert sum(isinstance(r, CouponNotRedeemable) for r in results) == 1
    coupon.refresh_from_db()
    winner = next(i for i, r in enumerate(results) if isinstance(r, Coupon))
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
