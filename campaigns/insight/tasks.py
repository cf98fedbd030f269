"""Celery tasks: thin wrappers the schedules (django-celery-beat, config/common/jobs.py) run."""

from celery import shared_task

from campaigns.insight.campaigns import campaigns_measure
from campaigns.insight.rollups import recent_days_rollup, today_rollup


@shared_task(name="insight.rollup_recent_days")
def rollup_recent_days() -> int:
    return recent_days_rollup()


@shared_task(name="insight.measure_campaigns")
def measure_campaigns() -> int:
    return campaigns_measure()


@shared_task(name="insight.rollup_today")
def rollup_today() -> int:
    return today_rollup()
