"""Celery tasks: thin wrappers the schedules (django-celery-beat, config/common/jobs.py) run."""

from celery import shared_task

from tiers.orders import plan_orders_expire_due
from tiers.services import overrides_end_due, tiers_review_due
from tiers.subscriptions import subscriptions_expire_due


@shared_task(name="tiers.review_due_tiers")
def review_due_tiers() -> int:
    return tiers_review_due()


@shared_task(name="tiers.end_due_overrides")
def end_due_overrides() -> int:
    return overrides_end_due()


@shared_task(name="tiers.expire_due_subscriptions")
def expire_due_subscriptions() -> int:
    return subscriptions_expire_due()


@shared_task(name="tiers.expire_plan_orders")
def expire_plan_orders() -> int:
    return plan_orders_expire_due()
