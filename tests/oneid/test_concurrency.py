"""Merges racing tills and approvers on PostgreSQL: whatever the interleaving, the absorbed
member ends closed and empty, every point and award is the survivor's, and the books balance.

Each lock test with a ``[control...]`` beside it runs the same race with the lock off.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection

from campaigns.earning.pipeline import purchase_process
from campaigns.models import Award
from members.models import Member
from members.oneid.models import MemberMerge
from members.oneid.services import MergeRefused, merge_approve, merge_reject, merge_request
from members.purchases.models import Purchase
from points.models import Account
from points.selectors import ledger_problems
from tests.campaigns.conftest import NOW, buy, campaign
from tests.concurrency import FIRST_WRITE, LOCKED_AND_CONTROL, Last, race, unless
from tests.factories import MemberFactory

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and races need PostgreSQL"),
]


def held(member: Member) -> int:
    return sum(
        a.available + a.pending for a in Account.objects.filter(member=member, point_type__code="points")
    )


def pending_merge(survivor: Member, absorbed: Member) -> MemberMerge:
    """A merge waiting for approval (asked by someone who is not in the race)."""
    asker = User.objects.create_user("asker")
    record = MemberMerge.objects.create(
        survivor=survivor,
        absorbed=absorbed,
        reason="同一人",
        approval_reasons=["test"],
        requested_by=asker,
        requested_at=NOW,
        idempotency_key="race#0",
    )
    return record


@pytest.fixture
def approvers() -> list[User]:
    return [User.objects.create_user(f"approver-{i}") for i in range(2)]


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_a_purchase_earning_on_the_absorbed_member_during_the_merge_ends_on_the_survivor(locked: bool):
    """The till read the member before the merge and earns while it runs: the earning waits for
    the merge (or the merge for it), and either way its points and award are the survivor's.
    Without the merge's lock the merge closes the member under the earning, which then posts to
    the closed record (or the two deadlock)."""
    survivor = MemberFactory()
    absorbed = MemberFactory(mobile=None, unionid="oRACE")  # no phone: the merge writes its row last
    sale = buy(absorbed, "100.00")
    record = pending_merge(survivor, absorbed)
    work = [lambda: merge_approve(merge=record, actor=None), lambda: purchase_process(sale, at=NOW)]

    with unless(locked, "members/oneid/services.py::merge_execute#2"):
        results = race(2, lambda i: work[i](), meet=[None, Last(r'^INSERT INTO "campaigns_award"')])

    if not locked:
        problems = [r for r in results if isinstance(r, Exception)]
        problems += [n for n in [held(absorbed)] if n]
        assert problems, "without the lock the earning lands on the closed record"
        return
    assert isinstance(results[0], MemberMerge) and isinstance(results[1], Award), results
    assert Member.objects.get(pk=absorbed.pk).merged_into_id == survivor.pk
    assert Purchase.objects.get(pk=sale.pk).member_id == survivor.pk
    assert Award.objects.get(pk=results[1].pk).member_id == survivor.pk
    assert (held(survivor), held(absorbed)) == (100, 0)
    assert ledger_problems() == {}


def test_a_purchase_on_the_survivor_during_the_merge_earns_once_and_balances():
    survivor = MemberFactory()
    absorbed = MemberFactory()
    buy_absorbed = buy(absorbed, "40.00")
    purchase_process(buy_absorbed, at=NOW)
    sale = buy(survivor, "100.00")
    record = pending_merge(survivor, absorbed)
    work = [lambda: merge_approve(merge=record, actor=None), lambda: purchase_process(sale, at=NOW)]

    results = race(2, lambda i: work[i](), meet=FIRST_WRITE)

    assert isinstance(results[0], MemberMerge) and isinstance(results[1], Award), results
    assert (held(survivor), held(absorbed)) == (140, 0)
    assert ledger_problems() == {}


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_approvers_approving_at_once_merge_once(locked: bool, approvers):
    """Both get the merge back; without the lock on the record the second runs it again and is
    refused by the member it finds already merged."""
    survivor, absorbed = MemberFactory(), MemberFactory()
    record = pending_merge(survivor, absorbed)

    with unless(locked, "members/oneid/services.py::merge_execute#1"):
        results = race(2, lambda i: merge_approve(merge=record, actor=approvers[i]), meet=FIRST_WRITE)

    refused = [r for r in results if isinstance(r, MergeRefused)]
    assert len(refused) == (0 if locked else 1), results
    assert MemberMerge.objects.get(pk=record.pk).status == MemberMerge.Status.DONE


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_a_merge_approved_and_rejected_at_once_is_one_or_the_other(locked: bool, approvers):
    """The record says what happened to the members: without the lock a rejection read before the
    approval is written over it, and members merged read as "rejected"."""
    survivor, absorbed = MemberFactory(), MemberFactory()
    record = pending_merge(survivor, absorbed)
    decide: list[Any] = [
        lambda: merge_approve(merge=record, actor=approvers[0]),
        lambda: merge_reject(merge=record, actor=approvers[1], note="不是同一人"),
    ]

    with unless(locked, "members/oneid/services.py::merge_reject"):
        race(2, lambda i: decide[i](), meet=r'^UPDATE "oneid_membermerge"')

    status = MemberMerge.objects.get(pk=record.pk).status
    merged = Member.objects.get(pk=absorbed.pk).merged_into_id is not None
    assert ((status == MemberMerge.Status.DONE) == merged) is locked, (status, merged)


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_a_purchase_followed_to_the_survivor_takes_turns_with_the_survivors_own(locked: bool):
    """A purchase read for the absorbed member before the merge earns on the survivor at the
    moment the survivor buys again: a once-per-member bonus goes to one of them. Without the
    lock on the survivor both read that the bonus was not given yet."""
    once = campaign(name="首单礼", bonus_points=300, member_max_times=1)
    survivor, absorbed = MemberFactory(), MemberFactory()
    before = buy(absorbed, "50.00")  # recorded for the absorbed member; earned after the merge
    merge_request(survivor=survivor, absorbed=[absorbed], reason="同一人", at=NOW)
    sales = [before, buy(survivor, "80.00")]

    with unless(locked, "campaigns/earning/pipeline.py::_follow_merge"):
        results = race(2, lambda i: purchase_process(sales[i], at=NOW), meet=FIRST_WRITE)

    assert all(isinstance(r, Award) for r in results), results
    bonuses = sorted(sum(a.lines.filter(campaign=once).values_list("amount", flat=True)) for a in results)
    assert bonuses == ([0, 300] if locked else [300, 300])
    if locked:
        assert held(survivor) == 50 + 80 + 300
        assert ledger_problems() == {}
