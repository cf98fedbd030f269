"""``manage.py seed_demo``: demo stores, tags, members (members.demo) and one login per role,
then the demo data of the apps above members (their ``AppConfig.demo_seed`` hooks).

The logins live here, next to the DEBUG guard and the table that prints them, so that one
file shows every known credential the command creates.
"""

from __future__ import annotations

import time
import unicodedata
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from config.common.roles import Role
from members import demo
from members.models import Member, Store

# Demo logins only: a published password, hence the refusal to run with DEBUG off.
DEMO_PASSWORD = "demo-2026"
STORE_USER_STORES = ["S0000", "S0001"]
# A published demo API key, for the same reason and under the same guard as the password.
DEMO_API_KEY = "demo2026.loyalty-demo-api-key-2026"
# username, role (= auth group), what the login is for in one phrase
DEMO_USERS = [
    ("admin", Role.ADMINISTRATOR, "全部功能 · everything, incl. users and stores"),
    ("operator", Role.OPERATOR, "会员、等级、权益、活动 · members, tiers, benefits, campaigns"),
    ("store", Role.STORE_STAFF, "查询、登记、核销 · look up, enrol, redeem coupons at S0000, S0001"),
    ("finance", Role.FINANCE, "余额与积分负债 · balances and points liability, PII masked"),
    ("approver", Role.APPROVER, "审批活动与调整 · approves campaigns and large adjustments"),
]


def ensure_demo_users() -> dict[str, Any]:
    """One staff login per role, by username. An existing user keeps its password: someone may
    have set it."""
    user_model: Any = get_user_model()
    encoded = make_password(DEMO_PASSWORD)  # slow on purpose (~0.3 s): hash once, share it
    users = {}
    for username, role, _can in DEMO_USERS:
        admin = role is Role.ADMINISTRATOR
        defaults = {"password": encoded, "is_staff": True, "is_superuser": admin}
        user = user_model.objects.get_or_create(username=username, defaults=defaults)[0]
        user.groups.add(Group.objects.get_or_create(name=role.value)[0])
        if role is Role.STORE_STAFF:
            for store in Store.objects.filter(code__in=STORE_USER_STORES):
                store.staff.add(user)
        users[username] = user
    return users


def ensure_demo_partner(members) -> None:
    """The demo POS partner (every grant, stores S0000 and S0001) with the published key; it may
    see the demo members, so the API docs page can be tried at once. It is the brand's own POS,
    so first-party: it sees every member and issues member codes (docs/api.md, "Trust")."""
    from members.partners.models import Grant, Partner, PartnerKey, PartnerKind, PartnerMember
    from members.partners.services import partner_create

    partner = Partner.objects.filter(code="demo-pos").first() or partner_create(
        code="demo-pos",
        name="演示收银系统 Demo POS",
        grants=Grant.values,
        channels=["store", "wechat_mp"],
        stores=Store.objects.filter(code__in=STORE_USER_STORES),
        kind=PartnerKind.FIRST_PARTY,
    )
    prefix = DEMO_API_KEY.partition(".")[0]
    if not PartnerKey.objects.filter(prefix=prefix).exists():
        hashed = PartnerKey.objects.key_generator.hash(DEMO_API_KEY)
        PartnerKey.objects.create(
            id=f"{prefix}.{hashed}", prefix=prefix, hashed_key=hashed, name="demo", partner=partner
        )
    PartnerMember.objects.bulk_create(
        [PartnerMember(partner=partner, member_id=pk) for pk in members.values_list("pk", flat=True)],
        ignore_conflicts=True,
    )


def _width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


class Command(BaseCommand):
    help = (
        "Seed demo data: stores, tags, one login per role (password demo-2026), members, then "
        "each app's demo data (points, tiers, benefits). "
        "Development only: refuses to run with DEBUG off unless --force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--members", type=int, default=3000, help="members to add (3000)")
        parser.add_argument("--if-empty", action="store_true", help="skip if any member exists")
        parser.add_argument("--seed", type=int, default=2026, help="random seed (2026)")
        parser.add_argument("--batch-size", type=int, default=5000, help="members per transaction")
        parser.add_argument("--force", action="store_true", help="run even with DEBUG off")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                f"seed_demo creates logins with the published password {DEMO_PASSWORD}, so it "
                "only runs with DEBUG=1. Add --force if this really is a throwaway demo system."
            )
        if options["members"] < 0 or options["batch_size"] < 1:
            raise CommandError("--members must be 0 or more and --batch-size 1 or more.")
        if options["if_empty"] and Member.objects.exists():
            self.stdout.write("There are members already: demo data not seeded (--if-empty).")
            # a demo database from before the API: its demo partner may see the first members
            ensure_demo_partner(Member.objects.order_by("pk")[:3000])
        else:
            self._seed(options["members"], options["seed"], options["batch_size"])
        self._print_logins()

    def _seed(self, total: int, seed: int, batch_size: int) -> None:
        started = time.monotonic()
        stores, tags = demo.ensure_stores(), demo.ensure_tags()
        users = ensure_demo_users()
        self.stdout.write(f"{len(stores)} stores, {len(tags)} tags, {len(DEMO_USERS)} logins.")

        def progress(done: int, seconds: float) -> None:
            rate = done / seconds if seconds else 0
            self.stdout.write(f"  {done:>10,} / {total:,} members  ({rate:,.0f}/s)")

        last_pk = Member.objects.aggregate(last=Max("pk"))["last"] or 0
        seeder = demo.MemberSeeder(seed=seed, stores=stores, tags=tags)
        seeder.run(total, batch_size, on_batch=progress if total > batch_size else None)
        seconds = time.monotonic() - started
        self.stdout.write(self.style.SUCCESS(f"Added {total:,} members in {seconds:.1f} s."))
        run = demo.DemoRun(
            members=Member.objects.filter(pk__gt=last_pk).order_by("pk"),
            seed=seed,
            existing=seeder.existing,
            now=timezone.now(),
            users=users,
        )
        self._run_hooks(run)
        ensure_demo_partner(run.members)
        seconds = time.monotonic() - started
        self.stdout.write(self.style.SUCCESS(f"Demo data seeded in {seconds:.1f} s."))

    def _run_hooks(self, run: demo.DemoRun) -> None:
        """Each app's demo data, in INSTALLED_APPS order, one transaction per app."""
        for label, hook in demo.demo_hooks():
            started = time.monotonic()
            with transaction.atomic():
                summary = hook(run)
            seconds = time.monotonic() - started
            self.stdout.write(f"  {label}: {summary or 'done'} ({seconds:.1f} s)")

    def _print_logins(self) -> None:
        header = ("Role 角色", "Username", "Password", "Can")
        rows = [header, *((role.value, user, DEMO_PASSWORD, can) for user, role, can in DEMO_USERS)]
        widths = [max(_width(row[i]) for row in rows) for i in range(len(header))]
        self.stdout.write("\nDemo logins (demo data only, never in production):")
        for i, row in enumerate(rows):
            cells = (c + " " * (w - _width(c)) for c, w in zip(row, widths, strict=True))
            self.stdout.write("  " + "  ".join(cells).rstrip())
            if i == 0:
                self.stdout.write("  " + "  ".join("-" * width for width in widths))
        self.stdout.write(
            f"\nPartner API (demo POS 演示收银系统): docs at /api/docs/, key: Api-Key {DEMO_API_KEY}"
        )
