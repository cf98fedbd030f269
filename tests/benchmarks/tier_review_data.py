"""The data of tests/benchmarks/tier_review.py, generated set-based in SQL (see its docstring),
and the snapshot that restores the tier table before every run."""

from __future__ import annotations

import time

from django.db import transaction

from points.models import PointType
from tests.benchmarks.common import local, say, sql
from tiers import selectors
from tiers.models import Tier, TierPolicy

PERIOD_START = local(2026, 1, 1)
PERIOD_END = local(2027, 1, 1)
NOW = PERIOD_END  # the review runs at local midnight on 1 January
# (rank, code, name, threshold); rank 0 comes from the migration
LADDER = [(1, "silver", "银卡", 1000), (2, "gold", "金卡", 5000), (3, "diamond", "钻石", 20000)]
THRESHOLDS = [0] + [threshold for _r, _c, _n, threshold in LADDER]


# --- fixtures ------------------------------------------------------------------------------

# What each member i (also their member id and growth account id) is generated to be: the rank
# of the earned tier now, the rank the growth of 2026 qualifies for (often the same, else one
# up, one down or two down), that growth (a band inside the tier's threshold range, sometimes
# exactly on the threshold) split into 1-3 earns, and which distractors they get. Deterministic
# (hashes of i), so a rerun makes the same data.
PLAN_SQL = """
CREATE UNLOGGED TABLE bench_plan AS
SELECT i, earned_rank, qualified_rank,
       (%(lows)s::int[])[qualified_rank + 1]
       + CASE WHEN abs(mod(hashint8extended(i, 3), 20)) = 0 THEN 0
              ELSE abs(mod(hashint8extended(i, 4), (%(widths)s::int[])[qualified_rank + 1])) END AS total,
       1 + abs(mod(hashint8extended(i, 5), 3))::int AS parts,
       abs(mod(hashint8extended(i, 6), 8)) = 0 AS reversal,
       abs(mod(hashint8extended(i, 7), 8)) = 0 AS expiry,
       abs(mod(hashint8extended(i, 8), 8)) = 0 AS earned_before,
       abs(mod(hashint8extended(i, 9), 8)) = 0 AS earned_at_end,
       abs(mod(hashint8extended(i, 10), 4)) = 0 AS points_account
FROM (
    SELECT i, earned_rank, LEAST(3, GREATEST(0, earned_rank + drift)) AS qualified_rank
    FROM (
        SELECT i,
               CASE WHEN d1 < 40 THEN 0 WHEN d1 < 70 THEN 1 WHEN d1 < 90 THEN 2 ELSE 3 END AS earned_rank,
               CASE WHEN d2 < 50 THEN 0 WHEN d2 < 70 THEN 1 WHEN d2 < 90 THEN -1 ELSE -2 END AS drift
        FROM (
            SELECT i, abs(mod(hashint8extended(i, 1), 100)) AS d1, abs(mod(hashint8extended(i, 2), 100)) AS d2
            FROM generate_series(1, %(members)s::bigint) AS i
        ) AS draws
    ) AS ranks
) AS plan
"""

MEMBERS_SQL = """
INSERT INTO members_member (id, member_number, name, mobile, email, gender, birthday, province, city,
                            registration_channel, registration_store_id, status, sms_consent,
                            email_consent, wechat_consent, created_at, updated_at)
SELECT i, 'T' || lpad(i::text, 11, '0'), '压测' || i, NULL, '', 'unknown', NULL, '', '', 'store', NULL,
       'active', false, false, false, %(joined)s::timestamptz + make_interval(mins => i::int), now()
FROM bench_plan ORDER BY i
"""

# One row per ledger entry to be: account i is member i's growth account, account N + i their
# points account. Amounts of the 2026 earns add up to the planned total exactly.
ENTRIES_PLAN_SQL = """
CREATE UNLOGGED TABLE bench_entries AS
SELECT p.i AS account_id, 'earn'::text AS kind,
       CASE WHEN j < p.parts THEN p.total / p.parts ELSE p.total - (p.parts - 1) * (p.total / p.parts) END
           AS amount,
       CASE WHEN j = 1 AND mod(p.i, 10) = 0 THEN %(start)s::timestamptz  -- on the period's first instant
            ELSE %(start)s::timestamptz + (j - 1) * (interval '365 days' / p.parts)
                 + make_interval(secs => abs(mod(hashint8extended(p.i * 4 + j, 12), 8640000)))
       END AS created_at,
       'g' || j AS tag
FROM bench_plan p CROSS JOIN LATERAL generate_series(1, p.parts) AS j
UNION ALL  -- an earn and its reversal (refund), both in the period: they cancel out
SELECT i, kind, amount, %(start)s::timestamptz + make_interval(days => 30 + offset_days), tag
FROM bench_plan,
     LATERAL (VALUES ('earn', 500, 0, 'r1'), ('reverse', -500, 10, 'r2')) AS r(kind, amount, offset_days, tag)
WHERE reversal
UNION ALL  -- expiry of growth value is not a qualifying kind
SELECT i, 'expire', -LEAST(total, 300), %(start)s::timestamptz + interval '300 days', 'x'
FROM bench_plan WHERE expiry
UNION ALL  -- the last second of the previous period
SELECT i, 'earn', 5000, %(start)s::timestamptz - interval '1 second', 'b' FROM bench_plan WHERE earned_before
UNION ALL  -- the first instant after the period (valid_until + grace is exclusive)
SELECT i, 'earn', 5000, %(end)s::timestamptz, 'e' FROM bench_plan WHERE earned_at_end
UNION ALL  -- redeemable points, not growth
SELECT %(members)s + i, 'earn', 20000, %(start)s::timestamptz + interval '100 days', 'p'
FROM bench_plan WHERE points_account
"""

ACCOUNTS_SQL = """
INSERT INTO points_account (id, member_id, point_type_id, available, pending, debt, earned, spent, expired,
                            flagged_at, updated_at)
SELECT a.id, a.member_id, a.point_type_id, COALESCE(s.balance, 0), 0, 0, COALESCE(s.earned, 0), 0,
       COALESCE(s.expired, 0), NULL, now()
FROM (SELECT i AS id, i AS member_id, %(growth)s AS point_type_id FROM bench_plan
      UNION ALL
      SELECT %(members)s + i, i, %(points)s FROM bench_plan WHERE points_account) AS a
LEFT JOIN (SELECT account_id, SUM(amount) AS balance, SUM(amount) FILTER (WHERE kind = 'earn') AS earned,
                  -SUM(amount) FILTER (WHERE kind = 'expire') AS expired
           FROM bench_entries GROUP BY account_id) AS s ON s.account_id = a.id
ORDER BY a.id
"""

# In time order, as the ledger appends them; balance_after runs per account.
ENTRIES_SQL = """
INSERT INTO points_entry (account_id, kind, amount, balance_after, source, source_ref, actor_id, reason,
                          idempotency_key, fingerprint, created_at)
SELECT account_id, kind, amount, SUM(amount) OVER (PARTITION BY account_id ORDER BY created_at, tag),
       CASE kind WHEN 'expire' THEN 'system' ELSE 'purchase' END, '', NULL, '',
       'bench:' || account_id || ':' || tag, '', created_at
FROM bench_entries ORDER BY created_at, account_id
"""

# In no particular member order: a row is created when the member first moved tier.
MEMBERTIER_SQL = """
INSERT INTO tiers_membertier (member_id, tier_id, source, since, earned_tier_id, period_start, valid_until,
                              override_tier_id, override_until, override_reason, plan_tier_id, plan_until)
SELECT p.i, t.id, 'earned', %(since)s, t.id, %(start)s, %(end)s, NULL, NULL, '', NULL, NULL
FROM bench_plan p JOIN tiers_tier t ON t.rank = p.earned_rank
ORDER BY hashint8extended(p.i, 20)
"""


def set_up_ladder_and_policy() -> None:
    for rank, code, name, threshold in LADDER:
        Tier.objects.update_or_create(
            rank=rank, defaults={"code": code, "name": name, "threshold": threshold}
        )
    policy = TierPolicy.current()
    policy.window = TierPolicy.Window.CALENDAR
    policy.downgrade = TierPolicy.Downgrade.ONE_LEVEL
    policy.grace_days = 0
    policy.save()
    assert [t.threshold for t in selectors.ladder()] == THRESHOLDS


def load(members: int) -> None:
    growth = PointType.objects.get(code=selectors.GROWTH)
    points = PointType.objects.get(code="points")
    lows = [10, *THRESHOLDS[1:]]  # at least 10 growth, so every split earn is non-zero
    widths = [b - a for a, b in zip(lows, [*THRESHOLDS[1:], THRESHOLDS[-1] * 2], strict=True)]
    params = {
        "members": members,
        "lows": lows,
        "widths": widths,
        "joined": local(2020, 1, 1),
        "start": PERIOD_START,
        "end": PERIOD_END,
        "since": local(2025, 1, 1),
        "growth": growth.pk,
        "points": points.pk,
    }
    steps = [
        ("plan", PLAN_SQL),
        ("members", MEMBERS_SQL),
        ("entries planned", ENTRIES_PLAN_SQL),
        ("accounts", ACCOUNTS_SQL),
        ("entries", ENTRIES_SQL),
        ("member tiers", MEMBERTIER_SQL),
    ]
    with transaction.atomic():
        sql("SET LOCAL work_mem = '256MB'")
        for label, statement in steps:
            started = time.perf_counter()
            sql(statement, params)
            say(f"loaded {label} in {time.perf_counter() - started:.1f}s")
        for name in ("members_member", "points_account"):
            sql(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT MAX(id) FROM {name}))")
    started = time.perf_counter()
    sql("VACUUM ANALYZE")
    say(f"VACUUM ANALYZE in {time.perf_counter() - started:.1f}s")
    sql("CREATE UNLOGGED TABLE bench_membertier AS SELECT * FROM tiers_membertier")


def restore() -> None:
    """MemberTier as loaded, no TierChange rows, vacuumed and analysed: every run starts alike."""
    sql("TRUNCATE tiers_tierchange, tiers_membertier")
    sql("INSERT INTO tiers_membertier SELECT * FROM bench_membertier")
    sql("VACUUM ANALYZE tiers_membertier")
    sql("VACUUM ANALYZE tiers_tierchange")
