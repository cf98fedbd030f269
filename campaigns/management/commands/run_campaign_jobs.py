"""``manage.py run_campaign_jobs``: start and end campaigns on their dates, give today's birthdays.

What Celery beat runs on schedule; for the embedded set-up (no beat) or a cron job.
Idempotent and safe next to a running beat.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from campaigns.earning.lifecycle import birthdays_process
from campaigns.services import campaigns_due


class Command(BaseCommand):
    help = "Start and end campaigns on their dates; run today's birthday campaigns (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        moved = campaigns_due()
        birthdays = birthdays_process()
        self.stdout.write(f"{moved} campaigns started or ended, {birthdays} birthday awards.")
