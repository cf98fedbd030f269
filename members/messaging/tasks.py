"""Celery tasks: thin wrappers the schedules (django-celery-beat, config/common/jobs.py) run."""

from celery import shared_task

from members.messaging.services import messages_send_due


@shared_task(name="messaging.send_due")
def send_due() -> int:
    return messages_send_due()
