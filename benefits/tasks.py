"""Celery tasks: thin wrappers the schedules (django-celery-beat, config/common/jobs.py) run."""

from celery import shared_task

from benefits.coupons import coupons_expire_due, entitlements_issue


@shared_task(name="benefits.issue_entitlements")
def issue_entitlements() -> int:
    return entitlements_issue()


@shared_task(name="benefits.expire_due_coupons")
def expire_due_coupons() -> int:
    return coupons_expire_due()
