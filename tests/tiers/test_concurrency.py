"""Tier changes racing on one member, and the tier jobs racing each other, on PostgreSQL: an
upgrade and an override at once both stay; two jobs at once change each member once.

Each lock test has its control beside it (``[control]``): the same race with the lock off,
showing the harm. Transactional: the migrations' rows are put back before each test.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connection

from tests.api.conftest import make_partner
from tests.concurrency import FIRST_WRITE, LOCKED_AND_CONTROL, race, unless
from tests.factories import MemberFactory
from tests.tiers.conftest import grow, local
from tiers.models import MemberTier, Plan, PlanOrder, Subscription, Tier, TierChange
from tiers.orders import plan_order_create, plan_payment_record
from tiers.services import overrides_end_due, tier_override, tier_refresh, tiers_review_due

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and races need PostgreSQL"),
]

STATUS_WRITE = r'^UPDATE "tiers_membertier"'


@pytest.fixture
def silver_gold() -> tuple[Tier, Tier]:
    return (
        Tier.objects.create(rank=1, code="silver", name="银卡", threshold=1000),
        Tier.objects.create(rank=2, code="gold", name="金卡", threshold=5000),
    )


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_an_upgrade_and_an_override_of_one_member_at_once_both_stay(locked: bool, silver_gold):
    """A purchase lifts the member to 银卡 while an operator holds them at 金卡: afterwards the
    member has earned 银卡 and is held at 金卡. Without the status lock each saves the status it
    read, and the later save undoes the other change."""
    silver, gold = silver_gold
    operator = User.objects.create_user("operator")
    member = MemberFactory()
    tier_refresh(member, at=local(2026, 3, 1))  # the status row exists, in the entry tier
    grow(member, 1200, local(2026, 3, 2), refresh=False)
    at = local(2026, 3, 3)

    def work(i: int) -> MemberTier:
        if i == 0:
            return tier_refresh(member, at=at)
        return tier_override(
            member, tier=gold, until=local(2026, 12, 1), reason="明星会员", actor=operator, at=at
        )

    with unless(locked, "tiers/services.py::lock_status"):
        results = race(2, work, meet=STATUS_WRITE)

    assert all(isinstance(r, MemberTier) for r in results), results
    status = MemberTier.objects.get(member=member)
    kept = (status.earned_tier_id, status.override_tier_id)
    if locked:
        assert kept == (silver.pk, gold.pk)
        assert status.tier_id == gold.pk
    else:
        assert kept in {(silver.pk, None), (Tier.objects.get(rank=0).pk, gold.pk)}


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_override_ending_jobs_at_once_end_each_override_once(locked: bool, silver_gold):
    """The job ending overrides started twice at once: each ended override is recorded once.
    Without skipping the rows the other job locked, both end the same overrides."""
    _silver, gold = silver_gold
    operator = User.objects.create_user("operator")
    members = [MemberFactory() for _ in range(4)]
    for member in members:
        tier_override(
            member, tier=gold, until=local(2026, 6, 1), reason="活动", actor=operator, at=local(2026, 3, 1)
        )

    with unless(locked, "tiers/services.py::overrides_end_due"):
        results = race(2, lambda i: overrides_end_due(local(2026, 6, 2)), meet=FIRST_WRITE)

    ended = TierChange.objects.filter(reason=TierChange.Reason.OVERRIDE_ENDED).count()
    assert not MemberTier.objects.filter(override_tier__isnull=False).exists()
    if locked:  # the jobs share the overrides: which job ends which depends on who locks first
        assert sum(results) == 4 and ended == 4, results
    else:
        assert results == [4, 4] and ended == 8


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_review_jobs_at_once_review_each_member_once(locked: bool, silver_gold):
    """The period-end review started twice at once: each member's 2026 is reviewed once, by one
    job or the other, and the jobs' counts add up to the members reviewed. Without skipping the rows the other
    job locked, both review every member (and each reports all of them)."""
    silver, _gold = silver_gold
    members = [MemberFactory() for _ in range(5)]
    for member in members:
        grow(member, 1500, local(2026, 3, 1))

    with unless(locked, "tiers/services.py::tiers_review_due"):
        results = race(2, lambda i: tiers_review_due(now=local(2027, 1, 2)), meet=FIRST_WRITE)

    # Locked, the jobs share the members (each scan skips the rows the other has locked so far,
    # so the split can be 5+0 or 4+1); without the lock each job reviews all five.
    assert (sum(results) == 5) if locked else (results == [5, 5]), results
    statuses = MemberTier.objects.filter(member__in=members)
    assert {(s.tier_id, s.valid_until) for s in statuses} == {(silver.pk, local(2028, 1, 1))}


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_one_payment_notice_sent_twice_at_once_records_one_period(locked: bool, silver_gold):
    """The payment system sends the same notice twice at once (it timed out on the first): both
    get the paid order, one period is recorded. Without the member's status lock both insert the
    period and the second fails on the payment reference's unique index (a 500 for the payment
    system)."""
    plus = Plan.objects.create(code="plus", name="PLUS会员", price=Decimal("199.00"), tier=silver_gold[1])
    partner, _key = make_partner("app", "P001")
    member = MemberFactory()
    tier_refresh(member, at=local(2026, 2, 1))  # the status row exists, in the entry tier
    order = plan_order_create(partner=partner, member=member, plan=plus, at=local(2026, 3, 1))

    def work(i: int) -> PlanOrder:
        return plan_payment_record(
            order_number=order.order_number,
            payment_ref="WX-1",
            amount=Decimal("199.00"),
            paid_at=local(2026, 3, 1, 0, 1),
            at=local(2026, 3, 1, 0, 2),
        )

    with unless(locked, "tiers/services.py::lock_status"):
        results = race(2, work, meet=r'^INSERT INTO "tiers_subscription"')

    if locked:
        assert [(r.status, r.payment_ref) for r in results] == [("paid", "WX-1")] * 2
        assert Subscription.objects.count() == 1
    else:
        assert any(isinstance(r, IntegrityError) for r in results), results
