"""Celery tasks: thin wrappers taking ids; the beat schedule (config/settings.py) runs the jobs."""

from celery import shared_task

from campaigns.earning import lifecycle, pipeline
from campaigns.services import campaigns_due
from members.purchases.models import MemberEvent, Purchase, Refund


@shared_task
def start_and_end_due_campaigns() -> int:
    return campaigns_due()


@shared_task
def process_birthdays() -> int:
    return lifecycle.birthdays_process()


@shared_task
def process_purchase(purchase_id: int) -> int:
    return pipeline.purchase_process(Purchase.objects.get(pk=purchase_id)).pk


@shared_task
def process_refund(refund_id: int) -> int:
    return pipeline.refund_process(Refund.objects.select_related("purchase").get(pk=refund_id)).pk


@shared_task
def process_event(event_id: int) -> int:
    return pipeline.event_process(MemberEvent.objects.select_related("event_type").get(pk=event_id)).pk
