"""``manage.py run_tier_jobs``: end due paid periods and overrides, then review due tiers, once.

What Celery beat runs on schedule; for the embedded set-up (no beat) or a cron job.
Idempotent and safe next to a running beat.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from tiers.services import overrides_end_due, tiers_review_due
from tiers.subscriptions import subscriptions_expire_due


class Command(BaseCommand):
    help = "End due subscriptions and tier overrides, then run the period-end tier review (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        # Plans and overrides first: the review then settles members on what they still hold.
        subscriptions = subscriptions_expire_due()
        overrides = overrides_end_due()
        reviewed = tiers_review_due()
        self.stdout.write(
            f"{subscriptions} subscriptions expired, {overrides} overrides ended, {reviewed} tier reviews."
        )
