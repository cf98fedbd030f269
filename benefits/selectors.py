"""Reads of the catalogue, redemptions and coupons."""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from benefits.coupons import coupon_find
from benefits.models import Coupon, Redemption, Reward
from members.models import Member
from members.partners.models import Partner
from members.partners.selectors import partner_members


def rewards_on_offer(at: datetime.datetime | None = None) -> QuerySet[Reward]:
    """Active rewards within their offer dates (out-of-stock ones included: they show as such)."""
    at = at or timezone.now()
    return Reward.objects.filter(
        Q(valid_from__isnull=True) | Q(valid_from__lte=at),
        Q(valid_until__isnull=True) | Q(valid_until__gt=at),
        active=True,
    ).select_related("benefit", "min_tier")


def redemptions_by(actor: Any) -> QuerySet[Redemption]:
    """Redemptions ``actor`` made (an API partner's service user: the partner's redemptions)."""
    return Redemption.objects.filter(actor=actor).select_related(
        "member", "reward", "coupon__benefit", "coupon__redeemed_store"
    )


def member_coupons(member: Member) -> QuerySet[Coupon]:
    return Coupon.objects.filter(member=member).select_related("benefit", "redeemed_store")


def partner_coupon(partner: Partner, typed: str) -> Coupon | None:
    """The coupon with this code if it is one of the partner's members' (None either way)."""
    coupon = coupon_find(typed)
    if coupon is None or not partner_members(partner).filter(pk=coupon.member_id).exists():
        return None
    return coupon
