"""Reads of the catalogue, redemptions, coupons and their redemptions at stores."""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from benefits.coupons import coupon_find
from benefits.models import Coupon, CouponRedemption, Redemption, Reward
from members.models import Member
from members.partners.models import Partner
from members.partners.selectors import partner_members
from members.selectors import stores_of


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


def partner_coupon_redemption(
    partner: Partner, coupon: Coupon, order_number: str = ""
) -> CouponRedemption | None:
    """The partner's newest redemption of ``coupon`` (for ``order_number`` if given): what its
    void undoes. Another partner's, or a store's at the counter, is none of its business."""
    redemptions = CouponRedemption.objects.filter(coupon=coupon, redeemed_by=partner.user)
    if order_number:
        redemptions = redemptions.filter(order_number=order_number)
    return redemptions.select_related("store").order_by("-redeemed_at", "-pk").first()


#: How far back the counter's page lists its stores' redemptions.
COUNTER_HOURS = 24


def counter_redemptions(user: Any, now: datetime.datetime | None = None) -> QuerySet[CouponRedemption]:
    """Redemptions at the stores ``user`` works at in the last day, newest first: the counter's
    list, where one made within its window can be undone."""
    since = (now or timezone.now()) - datetime.timedelta(hours=COUNTER_HOURS)
    return (
        CouponRedemption.objects.filter(store__in=stores_of(user), redeemed_at__gte=since)
        .select_related("coupon__benefit", "coupon__member", "store")
        .order_by("-redeemed_at", "-pk")
    )
