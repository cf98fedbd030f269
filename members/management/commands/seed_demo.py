"""``manage.py seed_demo``: demo stores, tags, role logins and members (logic in members.demo)."""

from __future__ import annotations

import time
import unicodedata
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from members import demo
from members.models import Member
from members.roles import Role

# What each demo login is for, one short phrase (the full wording is roles.ROLE_DESCRIPTIONS).
CAN_DO = {
    Role.ADMINISTRATOR: "全部功能 · everything, incl. users and stores",
    Role.OPERATOR: "会员、标签、活动、导入 · members, tags, campaigns, imports",
    Role.STORE_STAFF: "门店查询与登记 · look up and enrol members at S0000, S0001",
    Role.FINANCE: "余额与积分负债 · balances and points liability, PII masked",
    Role.APPROVER: "审批活动与调整 · approves campaigns and large adjustments",
}


def _width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


class Command(BaseCommand):
    help = (
        "Seed demo data: stores, tags, one login per role (password demo-2026) and members. "
        "Development only: refuses to run with DEBUG off unless --force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--members", type=int, default=3000, help="Members to add (default 3000).")
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when there is already a member."
        )
        parser.add_argument("--seed", type=int, default=2026, help="Random seed (default 2026).")
        parser.add_argument("--batch-size", type=int, default=5000, help="Members per transaction.")
        parser.add_argument(
            "--force", action="store_true", help="Run even with DEBUG off (creates known passwords)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "seed_demo creates logins with a published password (demo-2026), so it only runs "
                "with DEBUG=1. Use --force if this really is a throwaway demo system."
            )
        if options["members"] < 0 or options["batch_size"] < 1:
            raise CommandError("--members must be >= 0 and --batch-size >= 1.")
        if options["if_empty"] and Member.objects.exists():
            self.stdout.write("Members exist already: demo data not seeded (--if-empty).")
        else:
            self._seed(options["members"], options["seed"], options["batch_size"])
        self._print_logins()

    def _seed(self, total: int, seed: int, batch_size: int) -> None:
        started = time.monotonic()
        stores = demo.ensure_stores()
        tags = demo.ensure_tags()
        demo.ensure_demo_users()
        self.stdout.write(f"Stores: {len(stores)}, tags: {len(tags)}, demo logins: {len(demo.DEMO_USERS)}.")

        def progress(done: int, seconds: float) -> None:
            rate = done / seconds if seconds else 0
            self.stdout.write(f"  {done:>10,} / {total:,} members  ({rate:,.0f}/s)")

        seeder = demo.MemberSeeder(seed=seed, stores=stores, tags=tags)
        seeder.run(total, batch_size, on_batch=progress if total > batch_size else None)
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(f"Added {total:,} demo members in {elapsed:.1f} s (seed {seed}).")
        )

    def _print_logins(self) -> None:
        rows = [("Role 角色", "Username", "Password", "Can")]
        rows += [(role.value, name, demo.DEMO_PASSWORD, CAN_DO[role]) for name, role in demo.DEMO_USERS]
        widths = [max(_width(row[i]) for row in rows) for i in range(3)]
        self.stdout.write("\nDemo logins (demo data only, never in production):")
        for i, row in enumerate(rows):
            cells = [_pad(cell, width) for cell, width in zip(row, widths, strict=False)]
            self.stdout.write("  " + "  ".join([*cells, row[3]]))
            if i == 0:
                self.stdout.write("  " + "  ".join("-" * w for w in [*widths, _width(row[3])]))
