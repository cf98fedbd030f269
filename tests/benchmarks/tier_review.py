"""Period-end tier review at scale: ``tiers_review_due`` vs the SQL floor vs the naive ORM loop.

    DEBUG=1 .venv/bin/python tests/pgcluster.py -- .venv/bin/python tests/benchmarks/tier_review.py \
        [--members 1000000] [--repeat 3] [--naive 20000]

(or DATABASE_URL=postgres://... on an empty database; the script migrates it itself.
A quick check: --members 100000 --naive 5000.)

Data, generated set-based in SQL: the ladder 普通会员 0 / 银卡 1,000 / 金卡 5,000 / 钻石 20,000, a
calendar-year policy with one-level downgrades and no grace; --members members, each with a
growth account and 1-3 growth earns over 2026 and a MemberTier row (earned tier spread over the
ladder, period 2026-01-01 to 2027-01-01 Asia/Shanghai), so that the review keeps some, raises some
and lowers some (one level at most, even when they qualify two below). Entries the review must
ignore are mixed in: reversals (which count), growth expiries (which do not), earns a second
before the period and at its very end, and earns on a second (points) account. Entries are
inserted in time order, as the ledger writes them, so a member's entries sit on different pages.
No lots are made: the review reads entries only. Then VACUUM ANALYZE.

Timed on the same data, the MemberTier table restored from a snapshot before every mutating run
(TierChange rows truncated), median of --repeat runs:

(a)  the floor: one SQL statement that computes every due member's new earned tier (growth in
     [period_start, valid_until + grace) of the qualifying kinds, then the one-level rule);
(a') the floor with writes: the same statement also updating MemberTier and inserting the
     TierChange rows, in one transaction (no overrides or plans in this data: tier = earned);
(b)  ours: ``tiers_review_due(now=2027-01-01 local)`` end to end, in chunks of --batch;
(c)  the naive way, on the first --naive due members: per member one transaction with one
     aggregate query for the growth, ``.save()`` of the row and ``TierChange.objects.create``;
     its time is extrapolated to all members.

Checks (asserted): after ours, every MemberTier row equals the floor-with-writes' row (earned
tier, tier, since, period) and the TierChange rows are the same multiset; the earned tiers equal
the floor's targets, which equal the outcome the data was generated for; a second
``tiers_review_due`` returns 0; the naive loop agrees with the floor on its sample.

Where ours spends its time is printed too: wall time inside cursor.execute per kind of statement
(that includes psycopg turning the parameters into SQL), the rest being Python and commits.
Query logging is switched off after start-up (DEBUG=1 only spares us a SECRET_KEY).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict

# isort: off
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere
from tests.benchmarks.common import (
    one,
    peak_mib,
    say,
    sql,
    stopwatch,
    table,
)  # sets Django up: before any model import
# isort: on

from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction

from members.models import Member
from points.models import Entry, PointType
from tests.benchmarks.tier_review_data import (
    NOW,
    load,
    restore,
    set_up_ladder_and_policy,
)
from tiers import periods, selectors
from tiers.models import MemberTier, TierChange, TierPolicy
from tiers.services import REVIEW_BATCH, tiers_review_due

# --- (a) the floor -------------------------------------------------------------------------

# Every due member's growth in its period and the earned tier the review gives it. The ladder is
# three arrays in rank order; its thresholds rise with rank, so the qualified tier is the bucket
# the growth falls in (width_bucket), and "one level down" is the previous position.
FLOOR_SQL = """
WITH ladder AS (
    SELECT array_agg(id ORDER BY rank) AS ids, array_agg(rank ORDER BY rank) AS ranks,
           array_agg(threshold ORDER BY rank) AS thresholds
    FROM tiers_tier
), growth AS (
    SELECT mt.member_id, SUM(e.amount) AS total
    FROM tiers_membertier mt
    JOIN points_account a ON a.member_id = mt.member_id
    JOIN points_pointtype pt ON pt.id = a.point_type_id
    JOIN points_entry e ON e.account_id = a.id
    WHERE mt.valid_until <= %(due)s AND pt.code = %(growth)s AND e.kind = ANY(%(kinds)s)
      AND e.created_at >= mt.period_start AND e.created_at < mt.valid_until + %(grace)s
    GROUP BY mt.member_id
)
SELECT member_id, tier_before, earned_before, ranks[now_at] AS rank_before, total,
       ids[target_at] AS target_id, ranks[target_at] AS target_rank
FROM (
    SELECT member_id, tier_before, earned_before, total, ids, ranks, now_at,
           CASE WHEN qualified_at >= now_at THEN qualified_at ELSE GREATEST(qualified_at, now_at - 1) END
               AS target_at
    FROM (
        SELECT mt.member_id, mt.tier_id AS tier_before, mt.earned_tier_id AS earned_before,
               COALESCE(g.total, 0) AS total, l.ids, l.ranks,
               array_position(l.ids, mt.earned_tier_id) AS now_at,
               GREATEST(width_bucket(COALESCE(g.total, 0), l.thresholds::numeric[]), 1) AS qualified_at
        FROM tiers_membertier mt
        CROSS JOIN ladder l
        LEFT JOIN growth g ON g.member_id = mt.member_id
        WHERE mt.valid_until <= %(due)s
    ) AS positions
) AS targets
"""

# (a') and the writes: the row moves to its next period, a TierChange where the tier changed.
FLOOR_WRITE_SQL = f"""
WITH target AS ({FLOOR_SQL}),
moved AS (
    UPDATE tiers_membertier mt
    SET earned_tier_id = t.target_id, tier_id = t.target_id, source = 'earned',
        since = CASE WHEN t.target_id <> mt.tier_id THEN %(now)s ELSE mt.since END,
        period_start = mt.valid_until,
        valid_until = ((mt.valid_until AT TIME ZONE %(tz)s) + interval '12 months') AT TIME ZONE %(tz)s
    FROM target t WHERE mt.member_id = t.member_id
)
INSERT INTO tiers_tierchange (member_id, from_tier_id, to_tier_id, earned_tier_id, reason, metric, note,
                              actor_id, at)
SELECT member_id, tier_before, target_id, target_id,
       CASE WHEN target_rank > rank_before THEN 'upgrade' ELSE 'downgrade' END, total, '', NULL, %(now)s
FROM target WHERE target_id <> earned_before
"""


def floor_params() -> dict:
    grace = periods.grace(TierPolicy.current())
    return {
        "due": NOW - grace,
        "grace": grace,
        "growth": selectors.GROWTH,
        "kinds": [str(kind) for kind in selectors.QUALIFYING_KINDS],
        "now": NOW,
        "tz": settings.TIME_ZONE,
    }


def floor_compute() -> int:
    """(a): all targets computed (summed, so no column can be skipped), nothing written."""
    rows, _total, _target = sql(
        f"SELECT count(*), SUM(total), SUM(target_id) FROM ({FLOOR_SQL}) AS f", floor_params()
    )[0]
    return rows


def floor_write() -> None:
    with transaction.atomic():
        sql(FLOOR_WRITE_SQL, floor_params())


# --- (b) ours, with where its time goes ----------------------------------------------------


class DatabaseClock:
    """Wall time inside cursor.execute, by statement (the rest of a run is Python and commits)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def __call__(self, execute, statement, params, many, context):
        text = statement.lstrip().upper()
        if text.startswith("SELECT") and "TIERS_MEMBERTIER" in text:
            kind = "read chunk (SELECT … FOR UPDATE, growth subquery)"
        elif text.startswith("UPDATE") and "TIERS_MEMBERTIER" in text:
            kind = "write chunk (UPDATE … FROM unnest)"
        elif text.startswith("INSERT") and "TIERS_TIERCHANGE" in text:
            kind = "insert TierChange (bulk_create)"
        else:
            kind = "other statements"
        start = time.perf_counter()
        try:
            return execute(statement, params, many, context)
        finally:
            self.seconds[kind] += time.perf_counter() - start
            self.calls[kind] += 1


def run_ours(batch: int) -> tuple[float, int, DatabaseClock]:
    clock = DatabaseClock()
    reviewed = 0

    def run() -> None:
        nonlocal reviewed
        reviewed = tiers_review_due(now=NOW, batch=batch)

    with connection.execute_wrapper(clock):
        seconds = stopwatch(run)
    return seconds, reviewed, clock


# --- (c) the naive loop --------------------------------------------------------------------


def naive_review(limit: int) -> int:
    """The obvious way: per due member, one transaction, one aggregate query, .save(), .create()."""
    policy = TierPolicy.current()
    tiers = selectors.ladder()
    by_id = {tier.pk: tier for tier in tiers}
    grace = periods.grace(policy)
    due = list(
        MemberTier.objects.filter(valid_until__lte=NOW - grace)
        .select_related("member")
        .order_by("member_id")[:limit]
    )
    for status in due:
        with transaction.atomic():
            value = selectors.growth_between(
                status.member_id, status.period_start, status.valid_until + grace
            )
            before = by_id[status.earned_tier_id]
            earned = selectors.review_outcome(policy, tiers, before, value)
            tier_before = status.tier_id
            status.earned_tier = earned
            status.source = "earned"
            if earned.pk != tier_before:
                status.tier = earned
                status.since = NOW
            status.period_start = status.valid_until
            status.valid_until = periods.next_period(policy, status.valid_until, status.member.created_at)
            status.save()
            if earned.pk != before.pk:
                TierChange.objects.create(
                    member_id=status.member_id,
                    from_tier_id=tier_before,
                    to_tier=earned,
                    earned_tier=earned,
                    reason=TierChange.Reason.UPGRADE
                    if earned.rank > before.rank
                    else TierChange.Reason.DOWNGRADE,
                    metric=value,
                    at=NOW,
                )
    return len(due)


# --- checks --------------------------------------------------------------------------------

STATE_COLUMNS = "member_id, tier_id, source, since, earned_tier_id, period_start, valid_until"
CHANGE_COLUMNS = "member_id, from_tier_id, to_tier_id, earned_tier_id, reason, metric, note, actor_id, at"


def keep_floor_results() -> None:
    """After a floor-with-writes run: its rows, and the targets, to compare every other run with."""
    sql(f"CREATE UNLOGGED TABLE bench_floor_state AS SELECT {STATE_COLUMNS} FROM tiers_membertier")
    sql(f"CREATE UNLOGGED TABLE bench_floor_changes AS SELECT {CHANGE_COLUMNS} FROM tiers_tierchange")


def mismatches(where: str = "") -> tuple[int, int]:
    """(MemberTier rows, TierChange rows) that differ from the floor-with-writes run, both ways."""
    state = one(
        f"SELECT count(*) FROM ((SELECT {STATE_COLUMNS} FROM tiers_membertier {where}"
        f"  EXCEPT SELECT {STATE_COLUMNS} FROM bench_floor_state {where})"
        f" UNION ALL (SELECT {STATE_COLUMNS} FROM bench_floor_state {where}"
        f"  EXCEPT SELECT {STATE_COLUMNS} FROM tiers_membertier {where})) AS d"
    )
    changes = one(
        f"SELECT count(*) FROM ((SELECT {CHANGE_COLUMNS} FROM tiers_tierchange {where}"
        f"  EXCEPT ALL SELECT {CHANGE_COLUMNS} FROM bench_floor_changes {where})"
        f" UNION ALL (SELECT {CHANGE_COLUMNS} FROM bench_floor_changes {where}"
        f"  EXCEPT ALL SELECT {CHANGE_COLUMNS} FROM tiers_tierchange {where})) AS d"
    )
    return state, changes


# --- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of the floor and of ours (median)")
    parser.add_argument("--batch", type=int, default=REVIEW_BATCH, help="chunk size for ours")
    parser.add_argument("--naive", type=int, default=20_000, help="sample for the naive loop")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Run this against PostgreSQL (tests/pgcluster.py, or DATABASE_URL=postgres://...).")

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    if Member.objects.exists() or Entry.objects.exists() or MemberTier.objects.exists():
        sys.exit("Run this on an empty database: it seeds its own members, ledger and tiers.")
    settings.DEBUG = False  # no query log: it would tax every query of every variant
    set_up_ladder_and_policy()
    load(args.members)
    n = args.members
    version, fsync, work_mem, parallel = sql(
        "SELECT current_setting('server_version'), current_setting('fsync'), current_setting('work_mem'),"
        " current_setting('max_parallel_workers_per_gather')"
    )[0]
    entries, growth_entries = sql(
        "SELECT count(*), count(*) FILTER (WHERE a.point_type_id = %s)"
        " FROM points_entry e JOIN points_account a ON a.id = e.account_id",
        [PointType.objects.get(code=selectors.GROWTH).pk],
    )[0]
    sizes = sql(
        "SELECT pg_size_pretty(pg_total_relation_size('points_entry')),"
        " pg_size_pretty(pg_total_relation_size('tiers_membertier'))"
    )[0]
    print(
        f"PostgreSQL {version} (fsync={fsync}, work_mem={work_mem},"
        f" max_parallel_workers_per_gather={parallel}), {os.cpu_count()} CPUs\n"
        f"{n:,} members due for review, {entries:,} entries ({growth_entries:,} growth; table with"
        f" indexes {sizes[0]}), tiers_membertier {sizes[1]}; review at {NOW:%Y-%m-%d %H:%M %Z}\n"
    )

    # --- the repeated, interleaved runs: floor, floor with writes, ours
    floor_times, write_times, our_times = [], [], []
    clocks: list[DatabaseClock] = []
    checks: list[tuple[str, object, object]] = []
    for run in range(args.repeat):
        restore()
        floor_times.append(stopwatch(floor_compute))
        if run == 0:  # the targets, from the state before any review
            sql(f"CREATE UNLOGGED TABLE bench_floor AS {FLOOR_SQL}", floor_params())
        write_times.append(stopwatch(floor_write))
        if run == 0:
            keep_floor_results()
        restore()
        seconds, reviewed, clock = run_ours(args.batch)
        our_times.append(seconds)
        clocks.append(clock)
        say(
            f"run {run + 1}: floor {floor_times[-1]:.1f}s, floor+writes {write_times[-1]:.1f}s,"
            f" ours {seconds:.1f}s"
        )
        assert reviewed == n, (reviewed, n)
        if run == 0:
            state, changes = mismatches()
            earned = one(
                "SELECT count(*) FROM ((SELECT member_id, earned_tier_id FROM tiers_membertier"
                " EXCEPT SELECT member_id, target_id FROM bench_floor)"
                " UNION ALL (SELECT member_id, target_id FROM bench_floor"
                " EXCEPT SELECT member_id, earned_tier_id FROM tiers_membertier)) AS d"
            )
            planned = one(
                "SELECT count(*) FROM bench_floor f JOIN bench_plan p ON p.i = f.member_id"
                " WHERE f.target_rank <> CASE WHEN p.qualified_rank >= p.earned_rank THEN p.qualified_rank"
                " ELSE GREATEST(p.qualified_rank, p.earned_rank - 1) END"
            )
            again = tiers_review_due(now=NOW, batch=args.batch)
            checks = [
                ("members reviewed by ours", f"{reviewed:,}", f"{n:,}"),
                ("earned tier ≠ floor target (both ways)", earned, 0),
                ("MemberTier rows ≠ floor-with-writes rows", state, 0),
                ("TierChange rows ≠ floor-with-writes rows", changes, 0),
                ("floor target ≠ outcome the data was planned for", planned, 0),
                ("second tiers_review_due returns", again, 0),
            ]
            assert earned == state == changes == planned == again == 0, checks
    memory_after_ours = peak_mib()
    outcome = sql(
        "SELECT count(*) FILTER (WHERE target_rank = rank_before),"
        " count(*) FILTER (WHERE target_rank > rank_before),"
        " count(*) FILTER (WHERE target_rank < rank_before),"
        " count(*) FILTER (WHERE target_rank < rank_before AND total < (SELECT threshold FROM tiers_tier"
        "   WHERE rank = bench_floor.rank_before - 1))"
        " FROM bench_floor"
    )[0]

    # --- (c) the naive loop on a sample, checked against the floor on the same members
    restore()
    sample = min(args.naive, n)
    naive_time = stopwatch(lambda: naive_review(sample))
    last_sampled = one(
        "SELECT member_id FROM tiers_membertier ORDER BY member_id LIMIT 1 OFFSET %s", [sample - 1]
    )
    naive_state, naive_changes = mismatches(f"WHERE member_id <= {int(last_sampled)}")
    assert naive_state == naive_changes == 0, (naive_state, naive_changes)
    checks.append(("naive sample: rows ≠ floor-with-writes", naive_state + naive_changes, 0))
    naive_extrapolated = naive_time / sample * n

    # --- report
    floor, floor_w, ours = (statistics.median(t) for t in (floor_times, write_times, our_times))
    print(f"Period-end review of {n:,} members (median of {args.repeat} runs; naive extrapolated)")
    print(
        f"outcome: {outcome[0]:,} keep, {outcome[1]:,} up, {outcome[2]:,} down one level"
        f" ({outcome[3]:,} of them qualified two or more below)\n"
    )

    def row(label: str, seconds: float, note: str = "") -> list[str]:
        return [
            label,
            f"{seconds:,.1f} s",
            f"{n / seconds:,.0f}",
            f"{seconds / n * 1e6:,.1f} µs",
            f"×{seconds / floor:,.1f}",
            f"×{seconds / ours:,.2f}",
            note,
        ]

    table(
        ["variant", "time", "members/s", "per member", "÷ floor (a)", "÷ ours", "runs"],
        [
            row("(a) SQL floor: compute targets", floor, ", ".join(f"{t:.1f}" for t in floor_times)),
            row("(a') SQL floor incl. writes", floor_w, ", ".join(f"{t:.1f}" for t in write_times)),
            row(
                f"(b) ours: tiers_review_due(batch={args.batch})",
                ours,
                ", ".join(f"{t:.1f}" for t in our_times),
            ),
            row(f"(c) naive, EXTRAPOLATED from {sample:,}", naive_extrapolated, f"sample {naive_time:.1f} s"),
        ],
    )
    print(f"ours ÷ floor (a) ×{ours / floor:.1f};  ours ÷ floor incl. writes (a') ×{ours / floor_w:.1f};")
    print(f"naive ÷ ours ×{naive_extrapolated / ours:.0f} (extrapolated)\n")

    median_clock = clocks[our_times.index(sorted(our_times)[len(our_times) // 2])]
    breakdown = []
    for kind in sorted(median_clock.seconds, key=median_clock.seconds.get, reverse=True):
        spent = median_clock.seconds[kind]
        breakdown.append([kind, f"{median_clock.calls[kind]:,}", f"{spent:.1f} s", f"{spent / ours:.0%}"])
    in_db = sum(median_clock.seconds.values())
    breakdown.append(
        [
            "Python (build, review, convert rows) + commits",
            "",
            f"{ours - in_db:.1f} s",
            f"{(ours - in_db) / ours:.0%}",
        ]
    )
    print("Where ours spends its time (median run; database = wall time inside cursor.execute)\n")
    table(["part", "calls", "time", "share"], breakdown)

    print("Checks\n")
    table(["check", "got", "want"], [[label, str(got), str(want)] for label, got, want in checks])

    print(
        f"peak memory (ru_maxrss) of this process: {memory_after_ours:,.0f} MiB after the runs of ours,"
        f" {peak_mib():,.0f} MiB at the end"
    )
    print(f"total run time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
