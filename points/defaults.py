"""The two point types a new programme starts with: 积分 (spendable, cleared out yearly) and
成长值 (growth, never spent, for tiers)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.apps import apps as global_apps

POINT_TYPES = [
    {
        "code": "points",
        "name": "积分",
        "redeemable": True,
        "expiry_policy": "calendar",
        "expiry_period": 1,
        "pending_days": 7,
        "cny_value": Decimal("0.01"),
        "approval_threshold": 1000,
    },
    {
        "code": "growth",
        "name": "成长值",
        "redeemable": False,
        "expiry_policy": "never",
        "expiry_period": 0,
        "pending_days": 7,
        "cny_value": Decimal("0"),
        "approval_threshold": 1000,
    },
]


def point_types_ensure(*, apps: Any = None, using: str = "default", **_kwargs: Any) -> None:
    """post_migrate: a database without point types gets these (never over an operator's)."""
    apps = apps or global_apps  # flush sends post_migrate without the migration state
    PointType = apps.get_model("points", "PointType")
    if not PointType.objects.using(using).exists():
        PointType.objects.using(using).bulk_create(PointType(**fields) for fields in POINT_TYPES)
