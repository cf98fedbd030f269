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
from tests.benchmarks.common import local, say, stopwatch, table  # sets Django up: before any model import
# isort: on

from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from members.models import Member
from points import policy
from points.models import Account, Entry, Lot, LotAllocation, PointType, Source
from points.selectors import account_history, ledger_problems, member_balances
from points.services import lots_expire_due, points_earn, points_spend
from points.services.common import fingerprint

NAIVE_EXPIRY_NOW = local(2025, 1, 1, 0, 1)  # the naive sample: earned in 2023, cleared out 1 Jan 2025
SERVICE_EXPIRY_NOW = local(2026, 1, 1, 0, 1)  # the service's lots: earned in 2024, cleared out 1 Jan 2026
NOW = local(2026, 3, 1, 10, 0)  # balances read, points spent and earned


# --- helpers -------------------------------------------------------------------------------


def assert_consistent(after: str) -> None:
    elapsed = time.perf_counter()
    problems = ledger_problems()
    say(f"ledger_problems() after {after}: {len(problems)} accounts ({time.perf_counter() - elapsed:.1f}s)")
    assert problems == {}, f"after {after}: {dict(list(problems.items())[:10])}"


def analyze() -> None:
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


# --- fixtures ------------------------------------------------------------------------------


def make_accounts(count: int, prefix: str, point_type: PointType) -> list[tuple[int, int]]:
    """``count`` new members with an empty account each; [(member id, account id)] in id order."""
    numbers = [f"{prefix}{n:09d}" for n in range(count)]
    for start in range(0, count, 10_000):
        Member.objects.bulk_create(
            Member(member_number=number, name=f"压测{number[-6:]}")
            for number in numbers[start : start + 10_000]
        )
    member_ids = list(
        Member.objects.filter(member_number__startswith=prefix).order_by("id").values_list("id")
    )
    Account.objects.bulk_create(
        (Account(member_id=member_id, point_type=point_type) for (member_id,) in member_ids),
        batch_size=10_000,
    )
    return list(
        Account.objects.filter(member__member_number__startswith=prefix, point_type=point_type)
        .order_by("id")
        .values_list("member_id", "id")
    )


# Per account, ``per_account`` earn entries of 100 + i % 50 points earned across the year from
# ``earned_from``, each with its lot (available, already past the return window), balance_after
# running on from the account's opening balance; then the account caches catch up.
SEED_SQL = """
WITH earns AS (
    SELECT a.id AS account_id, a.available + a.pending AS opening, i, 100 + i %% 50 AS amount,
           %(earned_from)s + (i - 1) * %(spacing)s AS earned_at
    FROM points_account a CROSS JOIN generate_series(1, %(per_account)s) AS i
    WHERE a.id = ANY(%(accounts)s)
), entries AS (
    INSERT INTO points_entry (account_id, kind, amount, balance_after, source, source_ref, reason,
                              idempotency_key, fingerprint, created_at)
    SELECT account_id, 'earn', amount, opening + SUM(amount) OVER (PARTITION BY account_id ORDER BY i),
           'purchase', 'seed-' || i, '', %(prefix)s || account_id || ':' || i, '', earned_at
    FROM earns ORDER BY account_id, i
    RETURNING id, account_id, amount, source_ref, created_at
)
INSERT INTO points_lot (account_id, entry_id, source, source_ref, amount, remaining, status,
                        available_at, expires_at)
SELECT account_id, id, 'purchase', source_ref, amount, amount, 'available',
       created_at + make_interval(days => %(pending_days)s), %(expires_at)s
FROM entries
"""
SEED_CACHE_SQL = """
UPDATE points_account
SET available = available + t.total, earned = earned + t.total, updated_at = %(now)s
FROM (SELECT SUM(100 + i %% 50) AS total FROM generate_series(1, %(per_account)s) AS i) AS t
WHERE id = ANY(%(accounts)s)
"""


def seed_earned_lots(
    account_ids: list[int], per_account: int, point_type: PointType, *, year: int, prefix: str
) -> None:
    earned_from = local(year, 1, 1, 9, 0)
    params = {
        "accounts": account_ids,
        "per_account": per_account,
        "earned_from": earned_from,
        "spacing": datetime.timedelta(days=360) / per_account,
        "prefix": prefix,
        "pending_days": point_type.pending_days,
        "expires_at": policy.expires_at(point_type, earned_from),  # the same for the whole year
        "now": timezone.now(),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(account_ids), 20_000):
            chunk = {**params, "accounts": account_ids[start : start + 20_000]}
            cursor.execute(SEED_SQL, chunk)
            cursor.execute(SEED_CACHE_SQL, chunk)


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


# --- 3. earning ----------------------------------------------------------------------------


def service_earn(member: Member, point_type: PointType, amount: int, ref: str, key: str) -> None:
    points_earn(
        member=member, point_type=point_type, amount=amount, source=Source.PURCHASE, source_ref=ref,
        idempotency_key=key, at=NOW,
    )  # fmt: skip


def raw_earn(member: Member, point_type: PointType, amount: int, ref: str, key: str) -> None:
    """What a hand-written SQL earn needs: one transaction, lock, two INSERTs, one UPDATE.

    Idempotency is left to the unique index on the key (a retry fails the INSERT), so unlike the
    service there is no look-up of the key first; the fingerprint is still computed and stored.
    """
    digest = fingerprint(
        op="earn", member=member.pk, type=point_type.code, amount=amount, source=Source.PURCHASE, ref=ref,
        available_at=None,
    )  # fmt: skip
    available_from = policy.available_at(point_type, NOW)
    expires = policy.expires_at(point_type, NOW)
    pending = available_from > NOW
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, available, pending, debt FROM points_account"
            " WHERE member_id = %s AND point_type_id = %s FOR UPDATE",
            [member.pk, point_type.pk],
        )
        account_id, available, pending_before, debt = cursor.fetchone()
        repay = min(debt, amount)
        available += repay + (0 if pending else amount - repay)
        pending_after = pending_before + (amount - repay if pending else 0)
        cursor.execute(
            "INSERT INTO points_entry (account_id, kind, amount, balance_after, source, source_ref, reason,"
            " idempotency_key, fingerprint, created_at) VALUES (%s, 'earn', %s, %s, %s, %s, '', %s, %s, %s)"
            " RETURNING id",
            [account_id, amount, available + pending_after, Source.PURCHASE, ref, key, digest, NOW],
        )
        (entry_id,) = cursor.fetchone()
        cursor.execute(
            "INSERT INTO points_lot (account_id, entry_id, source, source_ref, amount, remaining, status,"
            " available_at, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                account_id, entry_id, Source.PURCHASE, ref, amount, amount - repay,
                Lot.Status.PENDING if pending else Lot.Status.AVAILABLE, available_from, expires,
            ],
        )  # fmt: skip
        assert repay == 0, "the benchmark's accounts have no debt (no allocation row written)"
        cursor.execute(
            "UPDATE points_account SET available = %s, pending = %s, debt = %s, earned = earned + %s,"
            " updated_at = %s WHERE id = %s",
            [available, pending_after, debt - repay, amount, timezone.now(), account_id],
        )


# All earns in one transaction: lock the accounts, insert entries and lots in one statement
# (balance_after as a running sum per account), bring the caches up to date in one UPDATE.
BATCH_LOCK_SQL = "SELECT id FROM points_account WHERE id = ANY(%s) ORDER BY id FOR UPDATE"
BATCH_INSERT_SQL = """
WITH earns AS (
    SELECT * FROM unnest(%(accounts)s::bigint[], %(amounts)s::bigint[], %(refs)s::text[], %(keys)s::text[])
        WITH ORDINALITY AS t(account_id, amount, ref, key, n)
), entries AS (
    INSERT INTO points_entry (account_id, kind, amount, balance_after, source, source_ref, reason,
                              idempotency_key, fingerprint, created_at)
    SELECT e.account_id, 'earn', e.amount,
           a.available + a.pending + SUM(e.amount) OVER (PARTITION BY e.account_id ORDER BY e.n),
           'purchase', e.ref, '', e.key, '', %(at)s
    FROM earns e JOIN points_account a ON a.id = e.account_id
    ORDER BY e.n
    RETURNING id, account_id, amount, source_ref
)
INSERT INTO points_lot (account_id, entry_id, source, source_ref, amount, remaining, status,
                        available_at, expires_at)
SELECT account_id, id, 'purchase', source_ref, amount, amount, 'pending', %(available_at)s, %(expires_at)s
FROM entries
"""
BATCH_CACHE_SQL = """
UPDATE points_account a SET pending = a.pending + t.total, earned = a.earned + t.total, updated_at = %(now)s
FROM (SELECT account_id, SUM(amount) AS total
      FROM unnest(%(accounts)s::bigint[], %(amounts)s::bigint[]) AS u(account_id, amount)
      GROUP BY account_id) AS t
WHERE a.id = t.account_id
"""


def batched_earns(plan: list[tuple[int, int, str, str]], point_type: PointType) -> None:
    params = {
        "accounts": [account_id for account_id, _a, _r, _k in plan],
        "amounts": [amount for _i, amount, _r, _k in plan],
        "refs": [ref for _i, _a, ref, _k in plan],
        "keys": [key for _i, _a, _r, key in plan],
        "at": NOW,
        "available_at": policy.available_at(point_type, NOW),
        "expires_at": policy.expires_at(point_type, NOW),
        "now": timezone.now(),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(BATCH_LOCK_SQL, [sorted(set(params["accounts"]))])
        cursor.execute(BATCH_INSERT_SQL, params)
        cursor.execute(BATCH_CACHE_SQL, params)


def bench_earn(args: argparse.Namespace, point_type: PointType) -> None:
    n_members = args.earn_members
    owners = {
        variant: make_accounts(n_members, prefix, point_type)
        for variant, prefix in (("service", "BS"), ("raw", "BR"), ("batch", "BF"))
    }
    members = {
        variant: list(Member.objects.filter(pk__in=[m for m, _a in pairs]).order_by("pk"))
        for variant, pairs in owners.items()
    }
    analyze()

    def earn_args(variant: str, i: int) -> tuple[Member, PointType, int, str, str]:
        return members[variant][i % n_members], point_type, 1 + i % 500, f"order-{i}", f"bench:{variant}:{i}"

    with CaptureQueriesContext(connection) as service_queries:  # one warm-up earn each, not timed
        service_earn(*earn_args("service", args.earns))
    with CaptureQueriesContext(connection) as raw_queries:
        raw_earn(*earn_args("raw", args.earns))

    samples: dict[str, list[float]] = {"service": [], "raw": []}
    totals = dict.fromkeys(samples, 0.0)
    block = 1000
    for start in range(0, args.earns, block):  # interleaved blocks: table growth hits both alike
        for variant, earn in (("service", service_earn), ("raw", raw_earn)):
            block_start = time.perf_counter()
            for i in range(start, min(start + block, args.earns)):
                call_start = time.perf_counter()
                earn(*earn_args(variant, i))
                samples[variant].append(time.perf_counter() - call_start)
            totals[variant] += time.perf_counter() - block_start
        if start and start % (block * 20) == 0:
            say(f"earns: {start:,} of {args.earns:,} each")
    assert_consistent("points_earn and raw SQL earns")

    batch_accounts = [account_id for _m, account_id in owners["batch"]]
    plan = [
        (batch_accounts[i % n_members], 1 + i % 500, f"order-{i}", f"bench:batch:{i}")
        for i in range(args.earns)
    ]
    totals["batch"] = stopwatch(lambda: batched_earns(plan, point_type))
    assert_consistent("batched SQL earns")

    print(f"3. Posting {args.earns:,} earns over {n_members:,} members (each variant its own members)")
    print(
        f"   per earn: service {len(service_queries)} queries, raw SQL {len(raw_queries)}"
        " (each counting BEGIN and COMMIT); service and raw interleaved in blocks of 1,000\n"
    )
    rows = []
    for label, variant in (
        ("points_earn (service), 1 tx per earn", "service"),
        ("raw SQL per earn, 1 tx per earn", "raw"),
        ("raw SQL batched, 1 tx for all (floor)", "batch"),
    ):
        total = totals[variant]
        median = ms(statistics.median(samples[variant])) if variant in samples else ""
        rows.append(
            [
                label,
                f"{total:.1f} s",
                f"{args.earns / total:,.0f}",
                median,
                f"×{totals['service'] / total:.1f}",
            ]
        )
    table(["variant", "time", "earns/s", "median per earn", "service ÷ this"], rows)


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
