"""Opening a risk case, and the restrictions a member's open cases put on them.

A case takes its rule's action on the member while it is open: a hold (what the member earns from
outside waits for review), a block (no spends, transfers or reward redemptions), the member's
code for every spend (the brand's own systems too need the visit a member code opens), or a
freeze. Every case but a record-only rule's counts in the risk desk's badge (the alert). The
earning pipeline opens cases as purchases arrive (``campaigns.risk.inline``), the nightly scan
for the patterns it finds (``campaigns.risk.scan``).
"""

from __future__ import annotations

import datetime
from typing import Any

from django.utils.translation import gettext as _

from campaigns.models import RiskCase, RiskRule
from members.models import Member
from members.restrictions import member_freeze, member_restrict


def case_key(rule: RiskRule, day: datetime.date, who: int | str, fact: str = "") -> str:
    """A case's key: one per rule, member (or subject) and day of the facts (and fact, for inline
    rules)."""
    return f"{rule.pk}:{day.isoformat()}:{who}{':' + fact if fact else ''}"


def case_open(
    rule: RiskRule,
    member: Member | None,
    *,
    day: datetime.date,
    evidence: dict[str, Any],
    at: datetime.datetime,
    fact: str = "",
    subject: tuple[str, str] = ("", ""),
) -> RiskCase | None:
    """Open the case of ``rule`` on ``member`` (locked by the caller) for the facts of ``day``
    (None: it was opened before) and take the rule's action on the member. A case without a
    member (coupon guessing) names its ``subject`` (key, label) and only records or alerts."""
    case, created = RiskCase.objects.get_or_create(
        key=case_key(rule, day, member.pk if member else subject[0], fact),
        defaults={
            "day": day,
            "rule": rule,
            "member": member,
            "subject": subject[1][:120],
            "action": rule.action,
            "score": rule.score,
            "evidence": evidence,
            "found_at": at,
        },
    )
    if not created:
        return None
    if member is None:  # a guessing case: nobody to restrict
        return case
    reason = _("Risk rule: %(rule)s") % {"rule": rule.name}
    if rule.action == RiskRule.Action.FREEZE:
        member_freeze(member, reason=reason)
    restrictions_refresh(member, reason)
    return case


def restrictions_refresh(member: Member, reason: str, actor: Any = None) -> bool:
    """Set the member's restrictions to what their open cases ask; whether any case is still open
    (then the awards held for risk wait for it too)."""
    actions = set(
        RiskCase.objects.filter(member_id=member.pk, status=RiskCase.Status.OPEN).values_list(
            "action", flat=True
        )
    )
    member_restrict(
        member,
        hold_awards=RiskRule.Action.HOLD in actions,
        block_spending=RiskRule.Action.BLOCK_REDEMPTIONS in actions,
        require_code=RiskRule.Action.REQUIRE_CODE in actions,
        actor=actor,
        reason=reason,
    )
    return bool(actions)
