"""What a new programme earns and holds before an operator sets anything: 1 point and 1 growth
per CNY of the eligible amount, rounded down; awards above 20,000 (a 20,000 CNY purchase at that
rate) wait for an approver."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.apps import apps as global_apps

REVIEW_ABOVE = 20_000


def earning_ensure(*, apps: Any = None, using: str = "default", **_kwargs: Any) -> None:
    """post_migrate: a database without earning rules (or review limits) gets these; once an
    operator has any, nothing is added."""
    apps = apps or global_apps  # flush sends post_migrate without the migration state
    PointType = apps.get_model("points", "PointType")
    EarnRule = apps.get_model("campaigns", "EarnRule")
    ReviewLimit = apps.get_model("campaigns", "ReviewLimit")
    point_types = list(PointType.objects.using(using).filter(code__in=["points", "growth"]))
    if not EarnRule.objects.using(using).exists():
        EarnRule.objects.using(using).bulk_create(
            EarnRule(point_type=t, channel="", store=None, rate=Decimal(1), rounding="floor")
            for t in point_types
        )
    if not ReviewLimit.objects.using(using).exists():
        ReviewLimit.objects.using(using).bulk_create(
            ReviewLimit(point_type=t, channel="", store=None, above=REVIEW_ABOVE) for t in point_types
        )
