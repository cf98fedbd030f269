"""Celery tasks of the building blocks: thin wrappers the schedules run."""

from celery import shared_task

from config.common.governance import config_changes_apply_due


@shared_task(name="common.apply_due_changes")
def apply_due_changes() -> int:
    return config_changes_apply_due()
