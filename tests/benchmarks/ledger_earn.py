"""The ledger benchmark's third part (tests/benchmarks/ledger.py): ``points_earn`` against the same
rows written by hand in SQL, one transaction each, and against the set-based floor."""

from __future__ import annotations

import argparse
import statistics
import sys
import time

# isort: off
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere
from tests.benchmarks.common import say, stopwatch, table  # sets Django up: before any model import
# isort: on

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from members.models import Member
from points import policy
from points.models import Lot, PointType, Source
from points.services import points_earn
from points.services.common import fingerprint
from tests.benchmarks.ledger_fixtures import NOW, analyze, assert_consistent, make_accounts, ms

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
