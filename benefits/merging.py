"""A member merge's coupons and redemptions (``members.oneid``): they become the survivor's."""

from __future__ import annotations

from typing import Any

from django.db.models import Max

from benefits.models import Coupon, Redemption


def benefits_merge(merge: Any) -> None:
    absorbed, survivor = merge.absorbed, merge.survivor
    # A coupon of an entitlement is numbered within its period per member (one per period,
    # by a unique constraint): the absorbed member's go after the survivor's of the same period.
    numbered = Coupon.objects.filter(member=absorbed, entitlement__isnull=False).order_by("pk")
    last = {
        (row["entitlement_id"], row["period_key"]): row["seq"]
        for row in Coupon.objects.filter(member=survivor, entitlement__isnull=False)
        .values("entitlement_id", "period_key")
        .annotate(seq=Max("seq"))
    }
    for coupon in numbered:
        period = (coupon.entitlement_id, coupon.period_key)
        if period in last:
            last[period] += 1
            Coupon.objects.filter(pk=coupon.pk).update(seq=last[period])
    merge.note("coupons", Coupon.objects.filter(member=absorbed).update(member=survivor))
    merge.note("redemptions", Redemption.objects.filter(member=absorbed).update(member=survivor))
