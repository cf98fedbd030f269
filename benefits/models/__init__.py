"""Benefits (权益), which tiers and paid plans entitle members to, coupons (issued grants with
an unguessable code, 核销 at a store), and the rewards catalogue bought with points."""

from benefits.models.catalogue import MAX_VOID_WINDOW, Benefit, Entitlement
from benefits.models.coupons import Coupon, CouponMiss, CouponRedemption
from benefits.models.rewards import Redemption, Reward

__all__ = [
    "MAX_VOID_WINDOW",
    "Benefit",
    "Coupon",
    "CouponMiss",
    "CouponRedemption",
    "Entitlement",
    "Redemption",
    "Reward",
]
