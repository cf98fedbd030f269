"""Counting segments at a million members: ours against hand-written SQL, side by side.

    DEBUG=1 DATABASE_URL=postgres://... .venv/bin/python tests/benchmarks/segments.py [--repeat 3]

(on a database seeded by ``manage.py seed_scale``, as ``tests/benchmarks/insight.py`` leaves it;
an empty one is seeded first, which takes about 45 minutes; members are scored when no score exists.)

For each segment, a typical operator's: its members, our count (``conditions_members(...).count()``,
the query the segment page and every reader of the segment run) against the floor, the same
count written by hand in SQL, as a ratio; median of --repeat runs each, warm. For the "at most"
segment the naive form (``NOT IN`` a subquery, what ``~Q(pk__in=...)`` gives) is timed too: it is
why every negated condition is ``NOT EXISTS``. The budget: a segment of about 100,000 members
counted in ≤ 5 s.

The planner's settings are printed: the sums over a window are read from covering indexes in
member order, which PostgreSQL prefers over a hash that spills only when random reads are priced
as on SSD (``random_page_cost = 1.1``, README "Production configuration"); try both with
``PGOPTIONS="-c random_page_cost=1.1"``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from decimal import Decimal
from functools import partial
from pathlib import Path

# isort: off
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere
from tests.benchmarks.common import say, sql, table  # sets Django up

from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from campaigns.segments.models import Condition, Field, Logic, Operator
from campaigns.segments.selectors import conditions_members
from members.models import Member
from members.scoring.models import MemberScore
from members.scoring.services import members_score
from tiers.models import Tier

# isort: on

IS, NOT, GTE, LTE = Operator.IS, Operator.IS_NOT, Operator.AT_LEAST, Operator.AT_MOST
NET = "SUM(paid_amount - refunded_amount)"
REDEEMABLE_LOTS = """SELECT a.member_id FROM points_lot l JOIN points_account a ON a.id = l.account_id
    JOIN points_pointtype t ON t.id = a.point_type_id WHERE t.redeemable AND l.remaining > 0
    AND l.expires_at > %(now)s AND l.expires_at <= %(now)s + interval '30 days'
    GROUP BY a.member_id HAVING SUM(l.remaining) >= 100"""


def segments(entry: Tier) -> list[tuple[str, str, list[Condition], str, str | None]]:
    """(name, groups logic, conditions, floor SQL, naive SQL or None)."""

    def c(field: str, operator: str, group: int = 1, **value: object) -> Condition:
        return Condition(field=field, operator=operator, group=group, **value)

    active = "FROM members_member m WHERE m.status = 'active'"
    return [
        (
            "重要挽留客户",
            Logic.ALL,
            [c(Field.RFM, IS, choice="important_win_back")],
            "SELECT COUNT(*) FROM members_member m JOIN scoring_memberscore s ON s.member_id = m.id "
            "WHERE m.status = 'active' AND s.segment = 'important_win_back'",
            None,
        ),
        (
            "spent ≥ ¥2,000 in a year, silent 60 days",
            Logic.ALL,
            [c(Field.SPEND, GTE, number=Decimal(2000), days=365), c(Field.SILENT, GTE, days=60)],
            f"SELECT COUNT(*) {active} AND m.id IN (SELECT member_id FROM purchases_purchase "
            "WHERE occurred_at >= %(now)s - interval '365 days' AND occurred_at < %(now)s "
            f"GROUP BY member_id HAVING {NET} >= 2000) "
            "AND NOT EXISTS (SELECT 1 FROM purchases_purchase p WHERE p.member_id = m.id "
            "AND p.occurred_at >= %(now)s - interval '60 days')",
            None,
        ),
        (
            "≥ 100 points expiring in 30 days",
            Logic.ALL,
            [c(Field.EXPIRING, GTE, number=Decimal(100), days=30)],
            f"SELECT COUNT(*) {active} AND m.id IN ({REDEEMABLE_LOTS})",
            None,
        ),
        (
            "上海, women, SMS consent",
            Logic.ALL,
            [
                c(Field.CITY, IS, text="上海"),
                c(Field.GENDER, IS, choice="female"),
                c(Field.CONSENT, IS, choice="sms"),
            ],
            f"SELECT COUNT(*) {active} AND m.city = '上海' AND m.gender = 'female' AND m.sms_consent",
            None,
        ),
        (
            "spent at most ¥100 in 90 days, member a year",
            Logic.ALL,
            [c(Field.SPEND, LTE, number=Decimal(100), days=90), c(Field.JOINED, GTE, days=365)],
            f"SELECT COUNT(*) {active} AND m.created_at <= %(now)s - interval '365 days' "
            "AND NOT EXISTS (SELECT 1 FROM purchases_purchase p WHERE p.member_id = m.id "
            "AND p.occurred_at >= %(now)s - interval '90 days' AND p.occurred_at < %(now)s "
            f"GROUP BY p.member_id HAVING {NET} > 100)",
            f"SELECT COUNT(*) {active} AND m.created_at <= %(now)s - interval '365 days' "
            "AND m.id NOT IN (SELECT member_id FROM purchases_purchase "
            "WHERE occurred_at >= %(now)s - interval '90 days' AND occurred_at < %(now)s "
            f"AND member_id IS NOT NULL GROUP BY member_id HAVING {NET} > 100)",
        ),
        (
            "above the entry tier, or ≥ 5,000 points",
            Logic.ANY,
            [c(Field.TIER, NOT, tier=entry), c(Field.AVAILABLE, GTE, group=2, number=Decimal(5000))],
            f"SELECT COUNT(*) {active} AND (EXISTS (SELECT 1 FROM tiers_membertier t "
            "WHERE t.member_id = m.id AND t.tier_id <> %(entry)s) OR m.id IN (SELECT a.member_id "
            "FROM points_account a JOIN points_pointtype t ON t.id = a.point_type_id WHERE t.redeemable "
            "GROUP BY a.member_id HAVING SUM(a.available) >= 5000))",
            None,
        ),
    ]


def sql_count(statement: str, params: dict) -> int:
    return int(sql(statement, params)[0][0])


def median_seconds(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.monotonic()
        result = fn()
        times.append(time.monotonic() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--naive-timeout", type=int, default=120, help="seconds before the naive form is given up"
    )
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Run this against PostgreSQL (DATABASE_URL=postgres://... or tests/pgcluster.py).")
    call_command("migrate", verbosity=0)
    if not Member.objects.exists():
        say("seeding 1,000,000 members (about 45 minutes)")
        call_command("seed_scale", verbosity=0)
    if not MemberScore.objects.exists():
        say("scoring the members")
        members_score()
    sql("ANALYZE")
    cost, jit = sql("SELECT current_setting('random_page_cost'), current_setting('jit')")[0]
    print(f"{Member.objects.count():,} members; PostgreSQL random_page_cost={cost}, jit={jit}\n")
    now = timezone.now()
    entry = Tier.objects.get(rank=0)
    params = {"now": now, "entry": entry.pk}
    rows = []
    for name, logic, conditions, floor, naive in segments(entry):
        members = conditions_members(conditions, groups_logic=logic, conditions_logic=Logic.ALL, now=now)
        ours, count = median_seconds(members.count, args.repeat)
        floor_s, floor_count = median_seconds(partial(sql_count, floor, params), args.repeat)
        assert count == floor_count, (name, count, floor_count)
        naive_text = "—"
        if naive:
            with connection.cursor() as cursor:
                cursor.execute(f"SET statement_timeout = {args.naive_timeout * 1000}")
                started = time.monotonic()
                try:
                    cursor.execute(naive, params)
                    naive_text = f"{time.monotonic() - started:.2f} s"
                except Exception:  # the timeout: the naive form did not finish
                    naive_text = f"> {args.naive_timeout} s"
                    connection.rollback() if not connection.get_autocommit() else None
                cursor.execute("SET statement_timeout = 0")
        rows.append(
            [name, f"{count:,}", f"{ours:.2f} s", f"{floor_s:.2f} s", f"{ours / floor_s:.2f}×", naive_text]
        )
    table(["segment", "members", "ours", "hand-written SQL", "ours ÷ floor", "naive NOT IN"], rows)


if __name__ == "__main__":
    main()
