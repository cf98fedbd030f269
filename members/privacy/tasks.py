"""Celery tasks: thin wrappers the schedules (django-celery-beat, config/common/jobs.py) run."""

from celery import shared_task

from members.privacy.services import personal_data_purge


@shared_task(name="privacy.purge_personal_data")
def purge_personal_data() -> dict[str, int]:
    return personal_data_purge()
