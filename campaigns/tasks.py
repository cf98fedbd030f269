"""Celery tasks: thin wrappers the schedules (django-celery-beat, config/common/jobs.py) run.

Purchases, refunds and events are earned inline by the API and the import job
(``campaigns.earning.pipeline``), so no task here takes a fact.
"""

from celery import shared_task

from campaigns.earning import lifecycle
from campaigns.risk import scan
from campaigns.services import campaigns_due


@shared_task(name="campaigns.start_and_end_due_campaigns")
def start_and_end_due_campaigns() -> int:
    return campaigns_due()


@shared_task(name="campaigns.process_birthdays")
def process_birthdays() -> int:
    return lifecycle.birthdays_process()


@shared_task(name="risk.scan")
def risk_scan() -> dict[str, int]:
    return scan.risk_scan()
