"""``manage.py seed_scale``: a programme at benchmark scale in an empty PostgreSQL database
(``campaigns.scale``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from campaigns.scale import SeedRefused, seed


class Command(BaseCommand):
    help = (
        "Seed an EMPTY PostgreSQL database with a loyalty programme at scale for benchmarks: members, "
        "purchases, refunds, events, awards, the points ledger, tiers, coupons and campaigns over the "
        "last --years years, written with COPY. Refuses a database that has members or is not PostgreSQL."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--members", type=int, default=1_000_000, help="members (1,000,000)")
        parser.add_argument("--purchases", type=int, default=10_000_000, help="purchases, about (10,000,000)")
        parser.add_argument("--years", type=int, default=2, help="years of history (2)")
        parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
        parser.add_argument("--stores", type=int, default=60, help="stores, four of them online (60)")
        parser.add_argument(
            "--every-award",
            action="store_true",
            help="an award with its lines for every purchase and event (default: those a campaign gave to)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if (
            options["members"] < 1
            or options["purchases"] < 0
            or options["years"] < 1
            or options["stores"] < 5
        ):
            raise CommandError(
                "--members and --years must be 1 or more, --purchases 0 or more, --stores 5 or more."
            )
        try:
            report = seed(
                members=options["members"],
                purchases=options["purchases"],
                years=options["years"],
                seed=options["seed"],
                stores=options["stores"],
                every_award=options["every_award"],
                say=lambda line: self.stdout.write(f"  {line}"),
            )
        except SeedRefused as refused:
            raise CommandError(str(refused)) from None
        self.stdout.write(self.style.SUCCESS("Seeded:"))
        for line in report.lines():
            self.stdout.write(line)
