"""Risk cases under concurrency, on PostgreSQL: two approvers deciding one case at once (a
member's, a guessing case's), two rules opening cases on one member at once, two reviewers adding
notes at once. Each test runs
with its lock and with the lock off (the control, which must show the harm)."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.models import RiskCase, RiskRule
from campaigns.risk.cases import CaseDecided, case_freeze, case_note, case_reject, case_release
from campaigns.risk.detectors import Finding
from campaigns.risk.opening import case_open
from campaigns.risk.scan import _open
from config.common.roles import Role
from members.models import Member
from tests.concurrency import LOCKED_AND_CONTROL, race, unless
from tests.factories import MemberFactory

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and races need PostgreSQL"),
]

DAY = datetime.date(2026, 11, 30)
UPDATE_CASE = r'^UPDATE "campaigns_riskcase"'


def make_rule(name: str, action: str) -> RiskRule:
    return RiskRule.objects.create(name=name, kind=RiskRule.Kind.TRANSFER_RING, threshold=5, action=action)


def opened(rule: RiskRule, member: Member) -> RiskCase:
    case = case_open(rule, member, day=DAY, evidence={}, at=timezone.now())
    assert case is not None
    return case


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_approvers_deciding_one_case_at_once_decide_it_once(locked, approver, make_user):
    other = make_user(Role.APPROVER, "approver2")
    member = MemberFactory()
    case = opened(make_rule("record", RiskRule.Action.RECORD), member)
    decisions = [lambda: case_freeze(case, actor=approver), lambda: case_release(case, actor=other)]
    with unless(locked, "campaigns/risk/cases.py::_decide"):
        results = race(2, lambda i: decisions[i](), meet=UPDATE_CASE)
    refused = [r for r in results if isinstance(r, CaseDecided)]
    case.refresh_from_db()
    member.refresh_from_db()
    if locked:
        assert len(refused) == 1, results
        assert (case.status == "frozen") == (member.status == "frozen")
    else:  # both read the case open and both decide it: frozen by one, released by the other
        assert not refused and case.history.filter(decided_by__isnull=False).count() == 2


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_approvers_deciding_one_guessing_case_at_once_decide_it_once(locked, approver, make_user):
    """A case with no member (coupon guessing) is locked itself: one approver rejects it, the
    other is told it was decided. Without the lock both decide it."""
    other = make_user(Role.APPROVER, "approver2")
    rule = RiskRule.objects.create(
        name="guessing", kind=RiskRule.Kind.COUPON_GUESSING, scope="partner", threshold=30, action="alert"
    )
    case = case_open(rule, None, day=DAY, evidence={}, at=timezone.now(), subject=("partner:1", "P1 合作方"))
    assert case is not None
    decisions = [lambda: case_reject(case, actor=approver), lambda: case_release(case, actor=other)]
    with unless(locked, "campaigns/risk/cases.py::_decide_subject"):
        results = race(2, lambda i: decisions[i](), meet=UPDATE_CASE)
    refused = [r for r in results if isinstance(r, CaseDecided)]
    if locked:
        assert len(refused) == 1, results
        assert RiskCase.objects.get().history.filter(decided_by__isnull=False).count() == 1
    else:
        assert not refused and case.history.filter(decided_by__isnull=False).count() == 2


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_rules_catching_one_member_at_once_both_restrict_them(locked):
    member = MemberFactory()
    rules = [make_rule("hold", RiskRule.Action.HOLD), make_rule("block", RiskRule.Action.BLOCK_REDEMPTIONS)]
    with unless(locked, "campaigns/risk/scan.py::_open"):
        results = race(
            2,
            lambda i: _open(rules[i], Finding(member.pk, {}), DAY, timezone.now()),
            meet=r'^UPDATE "members_member"',  # both have read which cases are open
        )
    assert results == [True, True]
    member.refresh_from_db()
    # without the lock each saw only its own case open and set the member's restrictions from
    # it: the last to commit undid the other's
    restricted = (member.hold_awards, member.block_spending)
    if locked:
        assert restricted == (True, True)
    else:
        assert restricted in ((True, False), (False, True))


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_notes_at_once_are_both_kept(locked, operator, approver):
    case = opened(make_rule("record", RiskRule.Action.RECORD), MemberFactory())
    people = [operator, approver]
    with unless(locked, "campaigns/risk/cases.py::case_note"):
        race(
            2,
            lambda i: case_note(case, actor=people[i], text=f"note {i}"),
            meet=UPDATE_CASE,
        )
    case.refresh_from_db()
    kept = sorted(line.split(": ", 1)[1] for line in case.note.splitlines())
    if locked:
        assert kept == ["note 0", "note 1"]
    else:  # the last write wins
        assert len(kept) == 1
