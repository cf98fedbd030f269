"""A member's tier and paid plans in their personal data copy (``members.privacy``)."""

from __future__ import annotations

from typing import Any

from members.models import Member
from members.privacy.exports import records
from tiers.models import MemberTier, PlanOrder, Subscription, TierChange


def tier_of(member: Member) -> list[dict[str, Any]]:
    status = records(MemberTier.objects.filter(member=member), "tier__name", "source", "since", "valid_until")
    changes = records(
        TierChange.objects.filter(member=member).order_by("at"),
        "from_tier__name",
        "to_tier__name",
        "reason",
        "at",
    )
    return status + changes


def subscriptions_of(member: Member) -> list[dict[str, Any]]:
    periods = records(
        Subscription.objects.filter(member=member).order_by("starts_at"),
        "plan__name", "status", "starts_at", "ends_at", "price", "payment_ref", "paid_at", "refund_amount",
    )  # fmt: skip
    orders = records(
        PlanOrder.objects.filter(member=member).order_by("created_at"),
        "order_number", "plan__name", "amount", "status", "created_at", "paid_at",
    )  # fmt: skip
    return periods + orders
