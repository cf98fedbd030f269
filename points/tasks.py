"""Celery tasks: thin wrappers the schedules (django-celery-beat, config/common/jobs.py) run."""

from celery import shared_task

from points.services import lots_activate_due, lots_expire_due
from points.webhooks import expiring_announce


@shared_task(name="points.activate_due_lots")
def activate_due_lots() -> int:
    return lots_activate_due()


@shared_task(name="points.expire_due_lots")
def expire_due_lots() -> int:
    return lots_expire_due()


@shared_task(name="points.announce_expiring")
def announce_expiring() -> int:
    return expiring_announce()
