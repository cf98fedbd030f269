"""What a risk review may do to a member: hold their awards, block their spending, freeze them.

The risk rules and their cases live in ``campaigns.risk``; the restrictions live here, on the
member row, because every app below campaigns enforces them: the earning pipeline holds awards
(``hold_awards``), the ledger and the rewards refuse spends (``block_spending``, a frozen status),
the partner API asks the brand's own systems too for the member's code (``require_code``).
Each change lands in the member's history with who made it and why.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from members.models import Member
from members.services import member_facts, record_history


def member_restrict(
    member: Member,
    *,
    hold_awards: bool,
    block_spending: bool,
    require_code: bool,
    actor: Any = None,
    reason: str = "",
) -> None:
    """Set the restrictions of ``member`` (locked by the caller) to what its open cases ask."""
    wanted = (hold_awards, block_spending, require_code)
    if (member.hold_awards, member.block_spending, member.require_code) == wanted:
        return
    member.hold_awards, member.block_spending, member.require_code = wanted
    record_history(member, actor, reason)
    member.save(update_fields=["hold_awards", "block_spending", "require_code", "updated_at"])


def member_freeze(member: Member, *, actor: Any = None, reason: str = "") -> None:
    """Freeze ``member`` (locked by the caller): they neither earn nor spend until unfrozen."""
    _status_move(member, Member.Status.ACTIVE, Member.Status.FROZEN, actor, reason)


def member_unfreeze(member: Member, *, actor: Any = None, reason: str = "") -> None:
    """Unfreeze ``member`` (locked by the caller), when a freeze proved wrong."""
    _status_move(member, Member.Status.FROZEN, Member.Status.ACTIVE, actor, reason)


def _status_move(member: Member, before: str, after: str, actor: Any, reason: str) -> None:
    """Move ``member`` from ``before`` to ``after`` (any other status is left alone), in the
    history with who and why, and tell subscribed partners."""
    if member.status != before:
        return
    member.status = after
    record_history(member, actor, reason)
    member.save(update_fields=["status", "updated_at"])
    member_facts("member.updated", [member.pk], timezone.now())
