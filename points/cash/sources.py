"""How a hold's entries read in the ledger ("积分抵现 #12：消费 A-0001"), for ``points.sources``,
and a member's holds in their personal data copy."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from members.models import Member
from members.privacy.exports import records
from points.cash.models import Hold


def holds_text(refs: list[str]) -> dict[str, str]:
    ids = {}
    for ref in refs:
        tail = ref.split(":", 1)[1]
        if tail.isdigit():
            ids[ref] = int(tail)
    holds = dict(Hold.objects.filter(pk__in=ids.values()).values_list("pk", "purchase__order_number"))
    words = {}
    for ref, pk in ids.items():
        if pk not in holds:
            continue
        if holds[pk]:
            words[ref] = _("Points as cash #%(id)d: purchase %(order)s") % {"id": pk, "order": holds[pk]}
        else:
            words[ref] = _("Points as cash #%(id)d") % {"id": pk}
    return words


def holds_of(member: Member) -> list[dict[str, Any]]:
    """The member's holds at tills, for their personal data copy (``members.privacy``)."""
    return records(
        Hold.objects.filter(member=member).order_by("pk"),
        "pk", "point_type__code", "points", "value", "status", "store__code", "channel", "created_at",
        "expires_at", "captured_at", "purchase__order_number", "released_at", "release_reason",
    )  # fmt: skip
