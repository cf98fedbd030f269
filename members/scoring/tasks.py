"""Celery tasks: thin wrappers the schedules (django-celery-beat, config/common/jobs.py) run."""

from celery import shared_task

from members.scoring.services import members_score


@shared_task(name="scoring.score_members")
def score_members() -> int:
    return members_score().members
