"""The insight pages and their nightly jobs at a million members, against plain SQL and the naive way.

    DEBUG=1 .venv/bin/python tests/pgcluster.py -- .venv/bin/python tests/benchmarks/insight.py \
        [--members 1000000 --purchases 10000000] [--repeat 20] [--backfill-days 730]

(or DATABASE_URL=postgres://... on an empty database or one seeded before: the script migrates
it, and seeds it with ``manage.py seed_scale`` when it has fewer members than asked.)

Reported side by side, in one run:
1. the backfill as ``rollup_insight --from`` runs it (``days_rollup(sparse=True)``): total, per day;
2. one day's rollup (``day_rollup``, median of 3) against the floor: the same tables filled by
   hand-written ``INSERT … SELECT … GROUP BY`` statements into scratch copies, as ratio;
3. RFM scoring of every member (``members_score``), the night's snapshots, the campaigns' figures;
4. every insight page as an administrator and the dashboard as store staff, through Django's
   test client in this process (no network): server time p50/p95/max of --repeat requests and
   the queries each took; and the naive dashboard — the same KPIs summed from the raw tables
   for the period — as ratio to ours.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
from pathlib import Path

# isort: off
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere
from tests.benchmarks.common import say, sql, stopwatch, table  # sets Django up

from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.insight.admin import PAGES
from campaigns.insight.campaigns import campaigns_measure
from campaigns.insight.rollups import day_bounds, day_rollup, days_rollup, yesterday
from campaigns.insight.snapshots import behaviour_snapshot, profiles_snapshot
from config.common.roles import Role
from members.models import Member, Store
from members.scoring.services import members_score

# isort: on

TIER_AT = """COALESCE((SELECT tc.to_tier_id FROM tiers_tierchange tc WHERE tc.member_id = {member}
  AND tc.at < %(end)s ORDER BY tc.at DESC, tc.id DESC LIMIT 1), %(entry)s)"""

#: The floor: each rollup table filled by one hand-written INSERT … SELECT into a scratch copy.
FLOOR = {
    "salesday": """INSERT INTO f_salesday (day, store_id, channel, tier_id, orders, sales, refunds,
        refund_amount)
        SELECT %(day)s, store_id, channel, tier, SUM(o), SUM(s), SUM(r), SUM(ra) FROM (
          SELECT p.store_id, p.channel, {tier_p} AS tier, 1 AS o, p.paid_amount AS s, 0 AS r, 0 AS ra
            FROM purchases_purchase p WHERE p.occurred_at >= %(start)s AND p.occurred_at < %(end)s
          UNION ALL
          SELECT p.store_id, p.channel, {tier_p}, 0, 0, 1, r.amount FROM purchases_refund r
            JOIN purchases_purchase p ON p.id = r.purchase_id
            WHERE r.occurred_at >= %(start)s AND r.occurred_at < %(end)s) x
        GROUP BY store_id, channel, tier""",
    "memberday": """INSERT INTO f_memberday (day, store_id, channel, joined)
        SELECT %(day)s, registration_store_id, registration_channel, COUNT(*) FROM members_member
        WHERE created_at >= %(start)s AND created_at < %(end)s GROUP BY 2, 3""",
    "tiermoveday": """INSERT INTO f_tiermoveday (day, store_id, channel, from_tier_id, to_tier_id, moves)
        SELECT %(day)s, m.registration_store_id, m.registration_channel, COALESCE(tc.from_tier_id,
        %(entry)s),
               tc.to_tier_id, COUNT(*)
        FROM tiers_tierchange tc JOIN members_member m ON m.id = tc.member_id
        WHERE tc.at >= %(start)s AND tc.at < %(end)s AND COALESCE(tc.from_tier_id,
        %(entry)s) <> tc.to_tier_id
        GROUP BY 2, 3, 4, 5""",
    "pointsday": """INSERT INTO f_pointsday (day, point_type_id, kind, source, store_id, channel,
        tier_id, amount, entries)
        SELECT %(day)s, a.point_type_id, e.kind, e.source, m.registration_store_id, m.registration_channel,
               {tier_m}, SUM(e.amount), COUNT(*)
        FROM points_entry e JOIN points_account a ON a.id = e.account_id
        JOIN members_member m ON m.id = a.member_id
        WHERE e.created_at >= %(start)s AND e.created_at < %(end)s GROUP BY 2, 3, 4, 5, 6, 7""",
    "redemptionday": """INSERT INTO f_redemptionday (day, reward_id, via, store_id, channel, tier_id,
        redemptions, points)
        SELECT %(day)s, r.reward_id, CASE WHEN pp.id IS NOT NULL THEN 'api' ELSE 'admin' END,
               m.registration_store_id, m.registration_channel, {tier_m}, COUNT(*), SUM(r.points)
        FROM benefits_redemption r LEFT JOIN partners_partner pp ON pp.user_id = r.actor_id
        JOIN members_member m ON m.id = r.member_id
        WHERE r.created_at >= %(start)s AND r.created_at < %(end)s GROUP BY 2, 3, 4, 5, 6""",
    "couponday": """INSERT INTO f_couponday (day, benefit_id, origin, store_id, channel, tier_id,
        issued, redeemed, expired)
        SELECT %(day)s, benefit_id, origin, store_id, channel, tier, SUM(i), SUM(r), SUM(x) FROM (
          SELECT c.benefit_id, c.origin, m.registration_store_id AS store_id,
          m.registration_channel AS channel,
                 {tier_m} AS tier,
                 CASE WHEN c.issued_at >= %(start)s AND c.issued_at < %(end)s THEN 1 ELSE 0 END AS i,
                 CASE WHEN c.redeemed_at >= %(start)s AND c.redeemed_at < %(end)s THEN 1 ELSE 0 END AS r,
                 CASE WHEN c.status = 'expired' AND c.valid_until >= %(start)s AND c.valid_until < %(end)s
                      THEN 1 ELSE 0 END AS x
          FROM benefits_coupon c JOIN members_member m ON m.id = c.member_id
          WHERE (c.issued_at >= %(start)s AND c.issued_at < %(end)s)
             OR (c.redeemed_at >= %(start)s AND c.redeemed_at < %(end)s)
             OR (c.status = 'expired' AND c.valid_until >= %(start)s AND c.valid_until < %(end)s)) x
        GROUP BY 2, 3, 4, 5, 6""",
    "awardday": """INSERT INTO f_awardday (day, kind, point_type_id, store_id, channel, tier_id,
        amount, cny)
        SELECT %(day)s, l.kind, l.point_type_id, m.registration_store_id, m.registration_channel, {tier_m},
               SUM(l.amount), SUM(l.cny)
        FROM campaigns_awardline l JOIN members_member m ON m.id = l.member_id
        WHERE l.occurred_at >= %(start)s AND l.occurred_at < %(end)s GROUP BY 2, 3, 4, 5, 6""",
    "cohortmonth": """INSERT INTO f_cohortmonth (month, cohort, store_id, buyers)
        SELECT %(month)s, date_trunc('month', m.created_at AT TIME ZONE %(zone)s)::date,
               m.registration_store_id, COUNT(DISTINCT p.member_id)
        FROM purchases_purchase p JOIN members_member m ON m.id = p.member_id
        WHERE p.occurred_at >= %(mstart)s AND p.occurred_at < %(end)s GROUP BY 2, 3""",
    "activeday": """INSERT INTO f_activeday (day, "window", store_id, channel, tier_id, buyers, active)
        SELECT %(day)s, %(window)s, m.registration_store_id, m.registration_channel, {tier_m},
               COUNT(*) FILTER (WHERE b.member_id IS NOT NULL), COUNT(*)
        FROM (SELECT member_id FROM purchases_purchase WHERE occurred_at >= %(wstart)s
        AND occurred_at < %(end)s
              UNION SELECT member_id FROM purchases_memberevent WHERE occurred_at >= %(wstart)s
              AND occurred_at < %(end)s
              UNION SELECT member_id FROM benefits_redemption WHERE created_at >= %(wstart)s
              AND created_at < %(end)s) a
        JOIN members_member m ON m.id = a.member_id
        LEFT JOIN (SELECT DISTINCT member_id FROM purchases_purchase
                   WHERE occurred_at >= %(wstart)s AND occurred_at < %(end)s) b ON b.member_id = m.id
        GROUP BY 3, 4, 5""",
}


def floor_day(day: datetime.date) -> float:
    """The hand-written statements for one day, timed together (scratch tables emptied first)."""
    start, end = day_bounds(day)
    entry = sql("SELECT id FROM tiers_tier ORDER BY rank LIMIT 1")[0][0]
    month = day.replace(day=1)
    params = {"day": day, "start": start, "end": end, "entry": entry, "month": month,
              "mstart": day_bounds(month)[0], "zone": timezone.get_current_timezone_name()}  # fmt: skip
    for name in FLOOR:
        sql(f"TRUNCATE f_{name}")
    began = time.perf_counter()
    for name, statement in FLOOR.items():
        text = statement.format(
            tier_p=TIER_AT.format(member="p.member_id"), tier_m=TIER_AT.format(member="m.id")
        )
        if name == "activeday":
            for window in (1, 7, 30, 90):
                wstart = day_bounds(day - datetime.timedelta(days=window - 1))[0]
                sql(text, {**params, "window": window, "wstart": wstart})
        else:
            sql(text, params)
    return time.perf_counter() - began


def naive_dashboard(days: int) -> float:
    """The dashboard's KPIs summed from the raw tables for the period and the one before."""
    end = timezone.now()
    began = time.perf_counter()
    for offset in (0, days):
        to, since = end - datetime.timedelta(days=offset), end - datetime.timedelta(days=offset + days)
        window = {"a": since, "b": to}
        period = "occurred_at >= %(a)s AND occurred_at < %(b)s"
        sql(f"SELECT COUNT(*), SUM(paid_amount) FROM purchases_purchase WHERE {period}", window)
        sql(
            "SELECT SUM(amount) FROM purchases_refund WHERE occurred_at >= %(a)s AND occurred_at < %(b)s",
            window,
        )
        sql("SELECT COUNT(*) FROM members_member WHERE created_at < %(b)s", window)
        sql("SELECT COUNT(*) FROM members_member WHERE created_at >= %(a)s AND created_at < %(b)s", window)
        sql(f"SELECT COUNT(DISTINCT member_id) FROM purchases_purchase WHERE {period}", window)
        sql(
            "SELECT e.kind, SUM(e.amount) FROM points_entry e JOIN points_account a ON a.id = e.account_id "
            "WHERE a.point_type_id = 1 AND e.created_at >= %(a)s AND e.created_at < %(b)s GROUP BY e.kind",
            window,
        )
        sql(
            "SELECT SUM(e.amount) FROM points_entry e JOIN points_account a ON a.id = e.account_id "
            "WHERE a.point_type_id = 1 AND e.created_at < %(b)s",
            window,
        )
    return time.perf_counter() - began


def pages(client: Client, repeat: int, cases: list[tuple[str, str, dict]]) -> list[list[str]]:
    rows = []
    for label, url, params in cases:
        client.get(url, params)  # warm: caches, the first connection
        times, counts = [], []
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as queries:
                began = time.perf_counter()
                response = client.get(url, params)
                times.append(time.perf_counter() - began)
            assert response.status_code == 200, (url, response.status_code)
            counts.append(len(queries))
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * len(times)) - 1)]
        rows.append([label, f"{statistics.median(times) * 1000:.0f}", f"{p95 * 1000:.0f}",
                     f"{times[-1] * 1000:.0f}", str(max(counts))])  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--purchases", type=int, default=10_000_000)
    parser.add_argument("--years", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--backfill-days", type=int, default=None, help="days to roll up (default: all)")
    parser.add_argument(
        "--skip-backfill", action="store_true", help="rollups kept from an earlier run: time the rest"
    )
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Run this against PostgreSQL (DATABASE_URL=postgres://... or tests/pgcluster.py).")
    call_command("migrate", verbosity=0)
    if not Member.objects.exists():
        say(f"seeding {args.members:,} members, {args.purchases:,} purchases over {args.years} years")
        seconds = stopwatch(
            lambda: call_command(
                "seed_scale", members=args.members, purchases=args.purchases, years=args.years, verbosity=0
            )
        )
        say(f"seeded in {seconds:.0f} s")
    sql("ANALYZE")
    counts = sql(
        "SELECT (SELECT COUNT(*) FROM members_member), (SELECT COUNT(*) FROM purchases_purchase), "
        "(SELECT COUNT(*) FROM points_entry)"
    )[0]
    print(f"{counts[0]:,} members, {counts[1]:,} purchases, {counts[2]:,} ledger entries\n")

    last = yesterday()
    first = sql("SELECT MIN(occurred_at) FROM purchases_purchase")[0][0]
    first = timezone.localtime(first).date() if first else last
    if args.backfill_days:
        first = max(first, last - datetime.timedelta(days=args.backfill_days - 1))
    days, backfill = 0, 0.0
    if not args.skip_backfill:
        say(f"backfill {first} .. {last}")
        began = time.perf_counter()
        days = sum(1 for _ in days_rollup(first, last, sparse=True))
        backfill = time.perf_counter() - began

    sql("ANALYZE")
    for name in FLOOR:  # with their indexes and keys: ours writes into indexed tables too
        sql(f"CREATE TEMP TABLE IF NOT EXISTS f_{name} (LIKE insight_{name} INCLUDING ALL)")
    sample = last - datetime.timedelta(days=30)
    ours = statistics.median(stopwatch(lambda: day_rollup(sample)) for _ in range(3))
    floor = statistics.median(floor_day(sample) for _ in range(3))

    say("scoring every member")
    rfm = stopwatch(members_score)
    snapshots = stopwatch(lambda: (profiles_snapshot(), behaviour_snapshot()))
    measured = stopwatch(campaigns_measure)
    table(
        ["job", "seconds", "note"],
        [
            ["backfill", f"{backfill:.0f}", f"{days} days, {backfill / max(days, 1):.2f} s a day"]
            if days
            else ["backfill", "-", "skipped (--skip-backfill)"],
            ["one day's rollup", f"{ours:.2f}", f"floor {floor:.2f} s: ours ÷ floor = {ours / floor:.2f}"],
            ["RFM scoring", f"{rfm:.1f}", f"{counts[0]:,} members"],
            ["profile + behaviour snapshots", f"{snapshots:.1f}", ""],
            ["campaign figures", f"{measured:.1f}", ""],
        ],
    )

    admin = User.objects.filter(username="bench-admin").first() or User.objects.create_superuser(
        "bench-admin", password="x"
    )
    staff, _new = User.objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    staff.groups.add(Group.objects.get(name=Role.STORE_STAFF.value))
    Store.objects.order_by("pk").first().staff.add(staff)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(admin)
    cases = [("admin first page (dashboard)", reverse("admin:index"), {})]
    for preset in ("30", "90", "year"):
        cases.append((f"dashboard, {preset}", reverse("admin:insight_dashboard"), {"period": preset}))
    for name, _title, _perms in PAGES[1:]:
        cases.append((name, reverse(f"admin:insight_{name}"), {"period": "90"}))
    rows = pages(client, args.repeat, cases)
    client.force_login(staff)
    rows += pages(client, args.repeat, [("dashboard as store staff", reverse("admin:insight_dashboard"), {})])
    table(["page", "p50 ms", "p95 ms", "max ms", "queries"], rows)
    client.force_login(admin)
    dash = pages(client, 5, [("", reverse("admin:insight_dashboard"), {"period": "90"})])[0]
    naive = statistics.median(naive_dashboard(90) for _ in range(3))
    print(f"dashboard, 90 days: ours {dash[1]} ms; naive (raw tables) {naive * 1000:.0f} ms "
          f"= {naive * 1000 / float(dash[1]):.1f} × ours")  # fmt: skip


if __name__ == "__main__":
    main()
