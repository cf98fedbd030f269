"""The ledger benchmark's (tests/benchmarks/ledger.py) moments, checks and fixtures: members with
an account each, and a year of earned lots written set-based in SQL."""

from __future__ import annotations

import datetime
import sys
import time

# isort: off
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere
from tests.benchmarks.common import local, say  # sets Django up: before any model import
# isort: on

from django.db import connection, transaction
from django.utils import timezone

from members.models import Member
from points import policy
from points.models import Account, PointType
from points.selectors import ledger_problems

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
