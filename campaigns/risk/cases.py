"""Risk cases: opened by a rule that fired, decided by an approver.

Opening a case (``campaigns.risk.opening``) takes the rule's action on the member. Deciding it:

- **release**: the member proved fine; the awards held for risk are posted (when no other open
  case still asks for a hold) and the restrictions lifted;
- **reject**: confirmed abuse; the awards held for risk are rejected, nothing of them is posted;
- **freeze**: confirmed abuse; the member is frozen, what they earned stays held (an approver may
  release it once the member is unfrozen).

Every decision takes the member's lock first, as every fact of the member does, records who and
when, and lands in the case's history.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.earning.reviews import award_reject, award_release
from campaigns.models import AwardReview, RiskCase, RiskRule
from campaigns.risk.opening import restrictions_refresh
from config.common.errors import BusinessRuleError
from members.models import Member
from members.restrictions import member_freeze, member_unfreeze

DECIDE_PERMISSION = "campaigns.decide_riskcase"
#: A member's risk score counts the cases of this many days.
SCORE_DAYS = 90


class CaseDecided(BusinessRuleError):
    """The case was decided already."""

    code = "case_decided"


class NoMemberToFreeze(BusinessRuleError):
    """A case of coupon guessing names a partner, store or staff account, not a member."""

    code = "case_not_a_member"


def case_release(
    case: RiskCase, *, actor: Any, note: str = "", at: datetime.datetime | None = None
) -> RiskCase:
    return _decide(case, RiskCase.Status.RELEASED, actor, note, at or timezone.now())


def case_reject(
    case: RiskCase, *, actor: Any, note: str = "", at: datetime.datetime | None = None
) -> RiskCase:
    return _decide(case, RiskCase.Status.REJECTED, actor, note, at or timezone.now())


def case_freeze(
    case: RiskCase, *, actor: Any, note: str = "", at: datetime.datetime | None = None
) -> RiskCase:
    return _decide(case, RiskCase.Status.FROZEN, actor, note, at or timezone.now())


def case_note(case: RiskCase, *, actor: Any, text: str, at: datetime.datetime | None = None) -> RiskCase:
    """Add a dated, signed line to the case's notes (the reviewers' conversation)."""
    text = text.strip()
    if not text:
        return case
    with transaction.atomic():
        case = RiskCase.objects.select_for_update().get(pk=case.pk)
        _sign(case, actor, text, at or timezone.now())
        case._history_user = actor  # type: ignore[attr-defined]
        case.save(update_fields=["note"])
    return case


def _sign(case: RiskCase, actor: Any, text: str, at: datetime.datetime) -> None:
    """Add ``text`` to the case's notes as a line dated (local time) and signed by ``actor``."""
    line = f"{timezone.localtime(at):%Y-%m-%d %H:%M} {actor.get_username()}: {text}"
    case.note = f"{case.note}\n{line}" if case.note else line


def _decide(case: RiskCase, status: str, actor: Any, note: str, at: datetime.datetime) -> RiskCase:
    if not actor.has_perm(DECIDE_PERMISSION):
        raise PermissionDenied(_("Only approvers can decide risk cases."))
    if case.member_id is None:
        return _decide_subject(case, status, actor, note, at)
    with transaction.atomic():
        member = Member.objects.select_for_update(no_key=True).get(pk=case.member_id)
        case = _record(RiskCase.objects.select_related("rule").get(pk=case.pk), status, actor, note, at)
        reason = _("Risk case %(id)s: %(status)s") % {"id": case.pk, "status": case.get_status_display()}
        if status == RiskCase.Status.FROZEN:
            member_freeze(member, actor=actor, reason=reason)
        elif status == RiskCase.Status.RELEASED and case.action == RiskRule.Action.FREEZE:
            freezes = RiskCase.objects.filter(member_id=member.pk).exclude(pk=case.pk)
            if not freezes.filter(
                Q(status=RiskCase.Status.FROZEN) | Q(status=RiskCase.Status.OPEN, action=case.action)
            ).exists():
                member_unfreeze(member, actor=actor, reason=reason)  # the rule's freeze proved wrong
        still_open = restrictions_refresh(member, reason, actor)
        held = AwardReview.objects.filter(
            member_id=member.pk, reason=AwardReview.Reason.RISK, status=AwardReview.Status.HELD
        ).order_by("pk")
        if status == RiskCase.Status.REJECTED:
            for review in held:
                award_reject(review, actor=actor, note=reason, at=at)
        elif status == RiskCase.Status.RELEASED and not still_open:
            for review in held:
                award_release(review, actor=actor, note=reason, at=at)
    return case


def _decide_subject(case: RiskCase, status: str, actor: Any, note: str, at: datetime.datetime) -> RiskCase:
    """A guessing case: nothing was held and nobody is restricted, so only the decision is kept."""
    if status == RiskCase.Status.FROZEN:
        raise NoMemberToFreeze(_("This case is not a member's: release or reject it."))
    with transaction.atomic():
        return _record(RiskCase.objects.select_for_update().get(pk=case.pk), status, actor, note, at)


def _record(case: RiskCase, status: str, actor: Any, note: str, at: datetime.datetime) -> RiskCase:
    """The decision on the case (locked by the caller), unless it was decided already."""
    if case.status != RiskCase.Status.OPEN:
        raise CaseDecided(
            _("This case was already decided: %(status)s.") % {"status": case.get_status_display()}
        )
    case.status, case.decided_by, case.decided_at = status, actor, at
    if note.strip():
        _sign(case, actor, note.strip(), at)
    case._history_user = actor  # type: ignore[attr-defined]
    case.save(update_fields=["status", "decided_by", "decided_at", "note"])
    return case


def member_risk_score(member_id: int, at: datetime.datetime | None = None) -> int:
    """The member's risk score, 0–100: the scores of the rules that fired on them in the last
    ``SCORE_DAYS`` days, except cases an approver released as fine."""
    since = (at or timezone.now()) - datetime.timedelta(days=SCORE_DAYS)
    total = (
        RiskCase.objects.filter(member_id=member_id, found_at__gte=since)
        .exclude(status=RiskCase.Status.RELEASED)
        .aggregate(total=Sum("score"))["total"]
    )
    return min(100, total or 0)
