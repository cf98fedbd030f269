"""Celery tasks: thin wrappers the beat schedule (config/settings.py) calls."""

from celery import shared_task

from points.services import lots_activate_due, lots_expire_due


@shared_task
def activate_due_lots() -> int:
    return lots_activate_due()


@shared_task
def expire_due_lots() -> int:
    return lots_expire_due()
