"""Celery tasks: thin wrappers the schedules (django-celery-beat, config/common/jobs.py) run."""

from celery import shared_task

from campaigns.journeys.services import journeys_run


@shared_task(name="journeys.run")
def run() -> dict[str, int]:
    return journeys_run()
