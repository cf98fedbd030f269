"""Member admin list at scale: our changelist vs Django's obvious default vs the SQL floor.

Run against a PostgreSQL database holding (or about to hold) N demo members:

    DATABASE_URL=postgres://... DEBUG=1 .venv/bin/python tests/benchmarks/member_admin.py --members 1000000

Every case is timed in the same run, interleaved, median of --repeat runs, and printed as a
ratio to the SQL floor (the one indexed query a page needs), because these machines are noisy.
"naive" is the ModelAdmin one writes first: exact COUNT(*) on every page and icontains search
over name, phone, member number and identities.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.contrib import admin  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.contrib.messages.storage.fallback import FallbackStorage  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import RequestFactory  # noqa: E402

from config.common.roles import Role  # noqa: E402
from members.admin import MemberAdmin  # noqa: E402
from members.models import Member  # noqa: E402


class NaiveMemberAdmin(admin.ModelAdmin):
    list_display = MemberAdmin.list_display
    list_filter = MemberAdmin.list_filter
    list_select_related = ["registration_store"]
    search_fields = ["name", "mobile", "member_number", "identities__value"]


def timed(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def sql_floor(where: str = "", params: tuple = ()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT m.id, m.member_number, m.name, m.mobile, s.code FROM members_member m "
            f"LEFT JOIN members_store s ON s.id = m.registration_store_id {where} "
            "ORDER BY m.id DESC LIMIT 50",
            params,
        )
        cursor.fetchall()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Run this against PostgreSQL (DATABASE_URL=postgres://...).")

    call_command("migrate", verbosity=0)
    have = Member.objects.count()
    if have < args.members:
        call_command("seed_demo", members=args.members - have)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    user, _ = User.objects.get_or_create(username="bench-operator", defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name=Role.OPERATOR.value))
    user = User.objects.get(pk=user.pk)  # fresh permission cache
    sample = Member.objects.exclude(mobile=None).order_by("pk")[Member.objects.count() // 2]
    phone = sample.mobile.as_e164[3:]
    name_prefix = sample.name[:2]

    ours = MemberAdmin(Member, admin.site)
    naive = NaiveMemberAdmin(Member, admin.site)
    factory = RequestFactory()

    def page(model_admin, params: dict[str, str]):
        def run() -> None:
            request = factory.get("/admin/members/member/", params)
            request.user = user
            request.session = SessionStore()
            request._messages = FallbackStorage(request)
            response = model_admin.changelist_view(request)
            response.render()

        return run

    cases = [
        ("first page, no filter", {}, "", ()),
        ("filter status=frozen", {"status__exact": "frozen"}, "WHERE m.status = %s", ("frozen",)),
        ("search full phone", {"q": phone}, "WHERE m.mobile = %s", (sample.mobile.as_e164,)),
        ("search name prefix", {"q": name_prefix}, "WHERE m.name LIKE %s", (name_prefix + "%",)),
    ]
    total = Member.objects.count()
    print(f"{total:,} members on PostgreSQL; median of {args.repeat} runs; ratio = time / SQL floor\n")
    print(f"{'page':<24}{'SQL floor':>12}{'ours':>18}{'naive':>18}")
    for label, params, where, sql_params in cases:
        floor = timed(lambda w=where, p=sql_params: sql_floor(w, p), args.repeat)
        mine = timed(page(ours, params), args.repeat)
        slow = timed(page(naive, params), max(2, args.repeat // 3))
        print(
            f"{label:<24}{floor * 1000:>10.1f}ms"
            f"{mine * 1000:>10.1f}ms ×{mine / floor:>5.0f}"
            f"{slow * 1000:>10.1f}ms ×{slow / floor:>5.0f}"
        )


if __name__ == "__main__":
    main()
