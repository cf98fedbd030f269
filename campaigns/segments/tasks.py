"""Celery tasks: thin wrappers the schedules (django-celery-beat, config/common/jobs.py) run."""

from celery import shared_task

from campaigns.segments.services import tag_rules_apply


@shared_task(name="segments.apply_tag_rules")
def apply_tag_rules() -> int:
    return tag_rules_apply()
