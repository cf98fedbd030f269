"""Reads for OneID pages: the evidence of a pair in words, and what a merge would bring together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from members import masking
from members.models import Member
from members.oneid.candidates import masked_value
from members.oneid.models import DuplicateCandidate
from members.oneid.services import approval_reasons


def candidate_evidence(candidate: DuplicateCandidate, *, full: bool) -> str:
    """Each signal that matched, in the reader's language, with the shared value (masked unless ``full``)."""
    labels = dict(DuplicateCandidate.Reason.choices)
    return _("; ").join(
        _("%(signal)s: %(value)s")
        % {
            "signal": labels.get(item.get("code", ""), item.get("code", "")),
            "value": item.get("value", "")
            if full
            else masked_value(item.get("code", ""), item.get("value", "")),
        }
        for item in candidate.reasons
    )


@dataclass(frozen=True)
class Side:
    """One member as the merge page shows it."""

    member: Member
    label: str
    purchases: int
    identities: int
    needs_approval: list[str]


def merge_preview(survivor_number: str, absorbed_numbers: list[str], user: Any) -> list[Side]:
    """The members named (the survivor first) with what they hold, for the operator to check
    before asking; numbers that are no member are left out (the form says so on submit)."""
    numbers = [survivor_number, *absorbed_numbers]
    found = {m.member_number: m for m in Member.objects.filter(member_number__in=numbers)}
    full = masking.can_view_pii(user)
    survivor = found.get(survivor_number)
    sides = []
    for number in numbers:
        member = found.get(number)
        if member is None:
            continue
        reasons = approval_reasons(survivor, member) if survivor and member is not survivor else []
        sides.append(
            Side(
                member=member,
                label=f"{member.member_number} {member.name}".strip() if full else str(member),
                purchases=member.purchases.count(),
                identities=member.identities.count(),
                needs_approval=reasons,
            )
        )
    return sides
