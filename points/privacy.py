"""A member's points in their personal data copy (``members.privacy``): balances and every entry."""

from __future__ import annotations

from typing import Any

from members.models import Member
from members.privacy.exports import records
from points.models import Account, Entry


def accounts_of(member: Member) -> list[dict[str, Any]]:
    return records(
        Account.objects.filter(member=member).order_by("pk"),
        "point_type__code", "available", "pending", "debt", "earned", "spent", "expired",
    )  # fmt: skip


def entries_of(member: Member) -> list[dict[str, Any]]:
    return records(
        Entry.objects.filter(account__member=member).order_by("pk"),
        "account__point_type__code", "kind", "amount", "balance_after",
        "source", "source_ref", "reason", "created_at",
    )  # fmt: skip
