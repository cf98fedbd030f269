"""``manage.py run_benefit_jobs``: issue this period's entitlements, expire unused coupons, once.

What Celery beat runs on schedule; for the embedded set-up (no beat) or a cron job.
Idempotent and safe next to a running beat.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from benefits.coupons import coupons_expire_due, entitlements_issue


class Command(BaseCommand):
    help = "Issue this period's entitled coupons and expire unused coupons past their end (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        expired = coupons_expire_due()
        issued = entitlements_issue()
        self.stdout.write(f"{issued} coupons issued, {expired} coupons expired.")
