"""``manage.py run_points_jobs``: activate due pending lots, then expire due lots, once.

What Celery beat runs on schedule; for the embedded set-up (no beat) or a cron job.
Idempotent and safe next to a running beat.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from points.services import lots_activate_due, lots_expire_due


class Command(BaseCommand):
    help = "Activate due pending lots and expire due lots (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        activated = lots_activate_due()
        expired = lots_expire_due()
        self.stdout.write(f"{activated} lots activated, {expired} lots expired.")
