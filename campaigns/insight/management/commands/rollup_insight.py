"""``manage.py rollup_insight``: roll up a range of days (the backfill), or the recent days.

What Celery beat runs nightly for the recent days; with ``--from`` it fills history, e.g. after
an import of two years of purchases, with the active-member counts of the days pages ask for
(``rollups.pages_ask_actives``). Idempotent: a day rolled up twice has the same rows.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from campaigns.insight.rollups import days_rollup, recent_days_rollup, yesterday


def _date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as error:
        raise CommandError(f"not a date (YYYY-MM-DD): {value}") from error


class Command(BaseCommand):
    help = "Roll up the insight figures of a range of days (default: the recent days)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="first", type=_date, help="first day (YYYY-MM-DD)")
        parser.add_argument("--to", dest="last", type=_date, help="last day (default: yesterday)")
        parser.add_argument("--missing", action="store_true", help="only days never rolled up")

    def handle(
        self, *args: Any, first: datetime.date | None, last: datetime.date | None, **options: Any
    ) -> None:
        if first is None:
            self.stdout.write(f"{recent_days_rollup()} recent days rolled up.")
            return
        last = last or yesterday()
        if last < first:
            raise CommandError("--to is before --from")
        began = time.monotonic()
        days = 0
        for day, written in days_rollup(first, last, missing_only=options["missing"], sparse=True):
            days += 1
            if options["verbosity"] > 1 or day.day == 1:
                self.stdout.write(f"{day}: {sum(written.values())} rows")
        self.stdout.write(f"{days} days rolled up in {time.monotonic() - began:.1f} s.")
