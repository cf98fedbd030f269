"""Points ledger at scale: our services vs the obvious way and vs hand-written SQL, on PostgreSQL.

    DEBUG=1 .venv/bin/python tests/pgcluster.py -- .venv/bin/python tests/benchmarks/ledger.py \
        [--lots 1000000] [--earns 100000] [--history 100000]

(or DATABASE_URL=postgres://... on an empty database; the script migrates it itself.)

1. Expiry. ``lots_expire_due`` on --lots due lots (--lots-per-account each) vs the naive loop
   one writes first: per lot, one transaction that locks the account, creates the expiry entry
   and the allocation, zeroes the lot and saves the account. The naive loop runs on a sample
   (--naive-lots, on its own accounts, due a year earlier); its time for --lots is extrapolated.
2. Balance. Reading a member's balance (``member_balances`` evaluated, and the account by
   member + type) on an account with --history entries vs one with 10; ``account_history`` too.
3. Earning. --earns calls of ``points_earn`` (one transaction each, over --earn-members members)
   vs hand-written SQL doing the same rows per earn through ``connection.cursor()`` (BEGIN, lock
   the account, INSERT entry, INSERT lot, UPDATE account, COMMIT), interleaved in blocks; plus
   the floor: all earns in one transaction, three set-based statements.

Every variant must leave ``ledger_problems() == {}``. The big fixtures (earned lots) are inserted
set-based in SQL, consistent with the ledger rules, and checked the same way before timing.
Query logging is switched off after start-up (DEBUG=1 only spares us a SECRET_KEY).
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import time
from collections.abc import Callable

# isort: off
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere
from tests.benchmarks.common import say, stopwatch, table  # sets Django up: before any model import
from tests.benchmarks.ledger_earn import bench_earn
from tests.benchmarks.ledger_fixtures import (
    NAIVE_EXPIRY_NOW,
    NOW,
    SERVICE_EXPIRY_NOW,
    analyze,
    assert_consistent,
    make_accounts,
    ms,
    seed_earned_lots,
)
# isort: on

from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction

from members.models import Member
from points.models import Account, Entry, Lot, LotAllocation, PointType, Source
from points.selectors import account_history, member_balances
from points.services import lots_expire_due, points_spend

# --- 1. expiry -----------------------------------------------------------------------------


def naive_expire_due(now: datetime.datetime) -> int:
    """The obvious way: every due lot in its own transaction, through the ORM."""
    due = list(Lot.objects.filter(remaining__gt=0, expires_at__lte=now).order_by("id"))
    for lot in due:
        with transaction.atomic():
            account = Account.objects.select_for_update().get(pk=lot.account_id)
            if lot.status == Lot.Status.PENDING:
                account.pending -= lot.remaining
            else:
                account.available -= lot.remaining
            account.expired += lot.remaining
            entry = Entry.objects.create(
                account=account,
                kind=Entry.Kind.EXPIRE,
                amount=-lot.remaining,
                balance_after=account.balance,
                source=Source.SYSTEM,
                source_ref=f"lot:{lot.pk}",
                idempotency_key=f"expire:lot:{lot.pk}",
                fingerprint="",
                created_at=now,
            )
            LotAllocation.objects.create(entry=entry, lot=lot, amount=lot.remaining)
            lot.remaining = 0
            lot.save()
            account.save()
    return len(due)


def bench_expiry(args: argparse.Namespace, point_type: PointType) -> None:
    per = args.lots_per_account
    service_accounts = make_accounts(args.lots // per, "BX", point_type)
    naive_accounts = make_accounts(args.naive_lots // per, "BN", point_type)
    started = time.perf_counter()
    seed_earned_lots([a for _m, a in service_accounts], per, point_type, year=2024, prefix="seed:x:")
    seed_earned_lots([a for _m, a in naive_accounts], per, point_type, year=2023, prefix="seed:n:")
    say(f"seeded {args.lots + args.naive_lots:,} earned lots in {time.perf_counter() - started:.1f}s")
    analyze()
    assert_consistent("seeding the lots")

    naive_lots = len(naive_accounts) * per
    naive_time = stopwatch(lambda: naive_expire_due(NAIVE_EXPIRY_NOW))
    assert Lot.objects.filter(remaining__gt=0, expires_at__lte=NAIVE_EXPIRY_NOW).count() == 0
    assert_consistent("the naive loop")

    service_lots = len(service_accounts) * per
    expired = 0

    def service() -> None:
        nonlocal expired
        expired = lots_expire_due(now=SERVICE_EXPIRY_NOW)

    service_time = stopwatch(service)
    assert expired == service_lots, (expired, service_lots)
    assert_consistent("lots_expire_due")

    naive_per_lot = naive_time / naive_lots
    extrapolated = naive_per_lot * service_lots
    print(f"1. Expiring {service_lots:,} due lots ({len(service_accounts):,} accounts × {per})")
    print("   one run each; the naive loop ran on its own sample of accounts and is extrapolated\n")
    table(
        ["variant", "lots", "time", "lots/s", "per lot", "× service"],
        [
            [
                "lots_expire_due (service)",
                f"{service_lots:,}",
                f"{service_time:.1f} s",
                f"{service_lots / service_time:,.0f}",
                ms(service_time / service_lots),
                "×1",
            ],
            [
                "naive per-lot loop, sample",
                f"{naive_lots:,}",
                f"{naive_time:.1f} s",
                f"{naive_lots / naive_time:,.0f}",
                ms(naive_per_lot),
                "",
            ],
            [
                f"naive, EXTRAPOLATED to {service_lots:,}",
                f"{service_lots:,}",
                f"~{extrapolated:,.0f} s",
                f"{1 / naive_per_lot:,.0f}",
                ms(naive_per_lot),
                f"×{extrapolated / service_time:.0f} (extrapolated)",
            ],
        ],
    )


# --- 2. balance ----------------------------------------------------------------------------


def big_vs_small(call: Callable[[str], object], repeat: int) -> tuple[float, float]:
    """Median seconds of ``call("small")`` and ``call("big")``, interleaved so drift hits both alike."""
    samples: dict[str, list[float]] = {"small": [], "big": []}
    for _ in range(repeat):
        for which, times in samples.items():
            start = time.perf_counter()
            call(which)
            times.append(time.perf_counter() - start)
    return statistics.median(samples["small"]), statistics.median(samples["big"])


def bench_balance(args: argparse.Namespace, point_type: PointType) -> None:
    (big_member_id, big_id), (small_member_id, small_id) = make_accounts(2, "BB", point_type)
    started = time.perf_counter()
    seed_earned_lots([big_id], args.history, point_type, year=2025, prefix="seed:b:")
    seed_earned_lots([small_id], 10, point_type, year=2025, prefix="seed:b:")
    say(f"seeded {args.history:,} + 10 entries in {time.perf_counter() - started:.1f}s")
    analyze()
    assert_consistent("seeding the balance accounts")
    members = {"big": Member.objects.get(pk=big_member_id), "small": Member.objects.get(pk=small_member_id)}
    accounts = {"big": Account.objects.get(pk=big_id), "small": Account.objects.get(pk=small_id)}

    spends = iter(range(10**9))

    def spend_one(which: str) -> None:
        points_spend(
            member=members[which], point_type=point_type, amount=1,
            idempotency_key=f"bench:spend:{next(spends)}", at=NOW,
        )  # fmt: skip

    cases: list[tuple[str, int, Callable[[str], object]]] = [
        ("member_balances(member), evaluated", args.reads, lambda w: list(member_balances(members[w]))),
        (
            "Account by member + point type",
            args.reads,
            lambda w: Account.objects.get(member=members[w], point_type=point_type),
        ),
        ("account_history(account, limit=50)", args.reads, lambda w: account_history(accounts[w], limit=50)),
        ("account_history(account, limit=10)", args.reads, lambda w: account_history(accounts[w], limit=10)),
        # Not a read, but the same question (does it depend on the account's size?) for a
        # spend of one point: the service loads every spendable lot of the account first.
        ("extra: points_spend(1 point)", args.spends, spend_one),
    ]
    rows = []
    for label, repeat, call in cases:
        small, big = big_vs_small(call, repeat)
        rows.append([label, f"{repeat:,}", ms(small), ms(big), f"×{big / small:.2f}"])
    assert_consistent("the balance reads and spends")

    print(f"2. Reading a balance: account with {args.history:,} entries (and open lots) vs one with 10")
    print("   median per call, interleaved (limit=50 gives 10 rows on the small account, 50 on the big)\n")
    table(["read", "calls", "10 entries", f"{args.history:,} entries", "ratio"], rows)


# --- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lots", type=int, default=1_000_000, help="due lots for lots_expire_due")
    parser.add_argument("--lots-per-account", type=int, default=10)
    parser.add_argument("--naive-lots", type=int, default=20_000, help="sample for the naive expiry loop")
    parser.add_argument("--history", type=int, default=100_000, help="entries on the big account")
    parser.add_argument("--reads", type=int, default=2_000, help="repetitions of each balance read")
    parser.add_argument("--spends", type=int, default=20, help="repetitions of the extra spend")
    parser.add_argument("--earns", type=int, default=100_000)
    parser.add_argument("--earn-members", type=int, default=10_000)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Run this against PostgreSQL (tests/pgcluster.py, or DATABASE_URL=postgres://...).")

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    if Entry.objects.exists() or Member.objects.filter(member_number__startswith="B").exists():
        sys.exit("Run this on an empty database: it seeds its own members and ledger.")
    settings.DEBUG = False  # no query log: it would tax every query of every variant
    point_type = PointType.objects.get(code="points")
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
        cursor.execute("SELECT current_setting('fsync'), current_setting('synchronous_commit')")
        fsync, sync_commit = cursor.fetchone()
    print(
        f"PostgreSQL {version} (fsync={fsync}, synchronous_commit={sync_commit}), {os.cpu_count()} CPUs;"
        f" point type {point_type.code!r}: {point_type.expiry_policy} expiry,"
        f" {point_type.pending_days} pending days\n"
    )

    bench_expiry(args, point_type)
    bench_balance(args, point_type)
    bench_earn(args, point_type)
    print(f"total run time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
