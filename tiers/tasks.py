"""Celery tasks: thin wrappers the beat schedule (config/settings.py) calls."""

from celery import shared_task

from tiers.services import overrides_end_due, tiers_review_due
from tiers.subscriptions import subscriptions_expire_due


@shared_task
def review_due_tiers() -> int:
    return tiers_review_due()


@shared_task
def end_due_overrides() -> int:
    return overrides_end_due()


@shared_task
def expire_due_subscriptions() -> int:
    return subscriptions_expire_due()
