"""Celery tasks: thin wrappers the schedules (django-celery-beat, config/common/jobs.py) run."""

from celery import shared_task

from members.webhooks.delivery import webhooks_deliver_due


@shared_task(name="webhooks.deliver_due")
def deliver_due() -> int:
    return webhooks_deliver_due()
