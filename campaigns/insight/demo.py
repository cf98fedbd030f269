"""Demo insight (``InsightConfig.demo_seed``): the night's jobs over the demo's history, so the
dashboard of ``make run`` has figures from the first login instead of after the first night."""

from __future__ import annotations

import datetime

from django.utils import timezone

from campaigns.insight.campaigns import campaigns_measure
from campaigns.insight.rollups import days_rollup, today_rollup
from campaigns.insight.snapshots import behaviour_snapshot, profiles_snapshot
from members.demo import DemoRun
from members.purchases.models import Purchase
from members.scoring.services import members_score


def seed(run: DemoRun) -> str | None:
    first = Purchase.objects.order_by("occurred_at").values_list("occurred_at", flat=True).first()
    last = timezone.localdate(run.now) - datetime.timedelta(days=1)
    if first is None:
        return None
    members_score(now=run.now)
    days = sum(1 for _ in days_rollup(timezone.localdate(first), last, sparse=True))
    today_rollup()
    profiles_snapshot(now=run.now)
    behaviour_snapshot()
    campaigns_measure(now=run.now)
    return f"{days} days rolled up, members scored"
