"""What coupons tell partners' webhooks (``members.webhooks``): issued and redeemed. The code is
a bearer credential and never leaves in an event; a partner with the grant reads it from the API."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from benefits.models import Benefit, Coupon, CouponRedemption
from members.webhooks.models import EventType
from members.webhooks.services import Fact, webhook_emit


def _stamp(moment: datetime.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def coupons_emit(
    event_type: str,
    coupons: Sequence[Coupon],
    at: datetime.datetime,
    *,
    redemption: CouponRedemption | None = None,
) -> None:
    """``coupon.issued`` or ``coupon.redeemed`` for these coupons (saved), in the caller's
    transaction; keyed by the coupon (issued once), a redemption by itself (a coupon whose
    redemption was undone can be redeemed again, and that is news too)."""

    def facts() -> list[Fact]:
        benefits = dict(
            Benefit.objects.filter(pk__in={c.benefit_id for c in coupons}).values_list("pk", "name")
        )
        redeemed = event_type == EventType.COUPON_REDEEMED
        return [
            Fact(
                coupon.member_id,
                str(coupon.pk) if redemption is None else f"{coupon.pk}:{redemption.pk}",
                {
                    "coupon_id": coupon.pk,
                    "benefit": benefits[coupon.benefit_id],
                    "origin": coupon.origin,
                    "valid_until": _stamp(coupon.valid_until),
                }
                | (
                    {"redeemed_at": _stamp(coupon.redeemed_at), "store": coupon.redeemed_store.code}
                    if redeemed and coupon.redeemed_store
                    else {}
                ),
            )
            for coupon in coupons
        ]

    webhook_emit(event_type, facts, at=at)
