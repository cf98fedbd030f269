"""Celery tasks: thin wrappers the beat schedule (config/settings.py) calls."""

from celery import shared_task

from benefits.coupons import coupons_expire_due, entitlements_issue


@shared_task
def issue_entitlements() -> int:
    return entitlements_issue()


@shared_task
def expire_due_coupons() -> int:
    return coupons_expire_due()
