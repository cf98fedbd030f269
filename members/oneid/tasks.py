"""Celery tasks: thin wrappers the schedules (django-celery-beat, config/common/jobs.py) run."""

from celery import shared_task

from members.oneid.candidates import duplicates_find


@shared_task(name="oneid.find_duplicates")
def find_duplicates() -> int:
    return duplicates_find()
