"""A new programme's points-as-cash rule: 积分 at its own value (100 = 1 CNY), whole yuan, at most
half an order, holds of 15 minutes — switched off until an operator turns it on."""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps


def cash_rules_ensure(*, apps: Any = None, using: str = "default", **_kwargs: Any) -> None:
    """post_migrate: a database without rules gets one per redeemable point type, inactive
    (never over an operator's rules)."""
    apps = apps or global_apps  # flush sends post_migrate without the migration state
    CashRule = apps.get_model("cash", "CashRule")
    PointType = apps.get_model("points", "PointType")
    if CashRule.objects.using(using).exists():
        return
    CashRule.objects.using(using).bulk_create(
        CashRule(point_type=point_type)
        for point_type in PointType.objects.using(using).filter(redeemable=True)
    )
