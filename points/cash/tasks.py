"""Celery task of points as cash (scheduled in config/common/jobs.py)."""

from celery import shared_task

from points.cash.services import holds_release_expired


@shared_task(name="points.release_expired_holds")
def release_expired_holds() -> int:
    return holds_release_expired()
