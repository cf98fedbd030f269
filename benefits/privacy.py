"""A member's coupons and redemptions in their personal data copy, and erasure of the delivery
address a redemption holds (``members.privacy``)."""

from __future__ import annotations

from typing import Any

from benefits.models import Coupon, Redemption
from members.models import Member
from members.privacy.exports import records


def coupons_of(member: Member) -> list[dict[str, Any]]:
    return records(
        Coupon.objects.filter(member=member).order_by("issued_at"),
        "code", "benefit__name", "status", "origin", "valid_from", "valid_until", "issued_at", "redeemed_at",
    )  # fmt: skip


def redemptions_of(member: Member) -> list[dict[str, Any]]:
    return records(
        Redemption.objects.filter(member=member).order_by("pk"),
        "reward__name", "status", "points", "ship_to", "tracking_number", "note", "created_at",
    )  # fmt: skip


def redemptions_erase(erasure: Any) -> None:
    """The delivery address and notes, in the redemptions and their history."""
    member = erasure.member
    erasure.note("redemptions", Redemption.objects.filter(member=member).update(ship_to="", note=""))
    Redemption.history.model.objects.filter(member_id=member.pk).update(ship_to="", note="")
