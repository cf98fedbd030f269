"""The scoring pass: every member's RFM scores, segment and lifecycle stage, in a few statements.

1. Every member gets a score row (an INSERT of the missing ones, with no segment yet: the
   moves of their first run start from "not scored before").
2. One UPDATE joins each member to their purchases of the look-back (the RFM window, or the
   dormancy limit when longer): last purchase, and orders and net sales inside the window. The
   segment moves to ``previous_segment`` first, so the run can tell who moved where.
3. The quintile cut points of R, F and M among members who bought (NTILE, one query each).
4. One UPDATE gives the scores 1–5 (equal values get equal scores), high or low by the method,
   the segment, and the lifecycle stage.
5. The run's counts per (previous segment, segment, stage) are kept for the pages.

Portable SQL: the same statements run on PostgreSQL and on SQLite (make run).
"""

from __future__ import annotations

import datetime
import time
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F, Sum
from django.utils import timezone

from members.scoring.models import (
    SEGMENT_OF,
    MemberScore,
    ScoreCount,
    ScoreRun,
    ScoringSettings,
    Segment,
    Stage,
)

_SCORE = "scoring_memberscore"

_INSERT_MISSING = f"""
INSERT INTO {_SCORE} (member_id, frequency, monetary, r, f, m, segment, previous_segment, stage)
SELECT m.id, 0, 0, 0, 0, 0, '', '', 'new' FROM members_member m
WHERE NOT EXISTS (SELECT 1 FROM {_SCORE} s WHERE s.member_id = m.id)
"""

# Members with no purchase in the look-back get nulls and zeros from the LEFT JOIN.
_AGGREGATE = f"""
UPDATE {_SCORE} SET
    previous_segment = segment,
    first_purchase_at = a.first_at,
    last_purchase_at = a.last_at,
    frequency = COALESCE(a.orders, 0),
    interval_days = CASE WHEN a.orders > 1 THEN a.span_days / (a.orders - 1) END,
    monetary = COALESCE(a.sales, 0)
FROM (
    SELECT m.id AS member_id, p.first_at, p.last_at, p.orders, p.sales, {{span}} AS span_days
    FROM members_member m LEFT JOIN (
        SELECT member_id,
               MIN(CASE WHEN occurred_at >= %(window)s THEN occurred_at END) AS first_at,
               MAX(occurred_at) AS last_at,
               SUM(CASE WHEN occurred_at >= %(window)s THEN 1 ELSE 0 END) AS orders,
               SUM(CASE WHEN occurred_at >= %(window)s THEN paid_amount - refunded_amount ELSE 0 END) AS sales
        FROM purchases_purchase
        WHERE occurred_at >= %(lookback)s AND occurred_at < %(now)s
        GROUP BY member_id
    ) p ON p.member_id = m.id
) a
WHERE {_SCORE}.member_id = a.member_id
"""

#: Days from the window's first purchase to the last: the one thing SQL dialects write differently.
_SPAN_DAYS = {
    "postgresql": "EXTRACT(EPOCH FROM (p.last_at - p.first_at)) / 86400",
    "sqlite": "(julianday(p.last_at) - julianday(p.first_at))",
}

_CUTS = f"""
SELECT tile, MAX(value) FROM (
    SELECT {{column}} AS value, NTILE(5) OVER (ORDER BY {{column}}) AS tile
    FROM {_SCORE} WHERE frequency > 0
) t GROUP BY tile ORDER BY tile
"""


def _score_case(column: str, cuts: list[Any]) -> tuple[str, list[Any]]:
    """SQL giving 1–5 from the four upper bounds of the lower quintiles (0 when nothing bought)."""
    if not cuts:
        return "0", []
    bounds = (cuts + [cuts[-1]] * 4)[:4]
    sql = (
        "CASE WHEN frequency = 0 THEN 0 "
        + "".join(f"WHEN {column} <= %s THEN {score} " for score in range(1, 5))
        + "ELSE 5 END"
    )
    return sql, bounds


def _high(settings: ScoringSettings, now: datetime.datetime) -> dict[str, tuple[str, list[Any]]]:
    """SQL deciding high (1) or low (0) for each of R, F, M, after the scores are written."""
    if settings.method == ScoringSettings.Method.QUINTILES:
        return {k: (f"{k} >= 4", []) for k in ("r", "f", "m")}
    since = now - datetime.timedelta(days=settings.recent_days)
    return {
        "r": ("last_purchase_at >= %s", [connection.ops.adapt_datetimefield_value(since)]),
        "f": ("frequency >= %s", [settings.frequent_orders]),
        "m": ("monetary >= %s", [connection.ops.adapt_decimalfield_value(settings.monetary_amount, 14, 2)]),
    }


def _segment_case(high: dict[str, tuple[str, list[Any]]]) -> tuple[str, list[Any]]:
    sql, params = "CASE WHEN frequency = 0 THEN %s ", [Segment.NONE.value]
    for (r, f, m), segment in SEGMENT_OF.items():
        conditions = []
        for key, wanted in (("r", r), ("f", f), ("m", m)):
            condition, values = high[key]
            conditions.append(f"({condition})" if wanted else f"NOT ({condition})")
            params.extend(values)
        sql += f"WHEN {' AND '.join(conditions)} THEN %s "
        params.append(segment.value)
    return sql + "END", params


def _stage_case(settings: ScoringSettings, now: datetime.datetime) -> tuple[str, list[Any]]:
    adapt = connection.ops.adapt_datetimefield_value

    def ago(days: int) -> Any:
        return adapt(now - datetime.timedelta(days=days))

    sql = (
        "CASE WHEN created_at >= %s THEN %s "
        "WHEN last_purchase_at >= %s THEN %s WHEN last_purchase_at >= %s THEN %s ELSE %s END"
    )
    params = [
        ago(settings.new_days),
        Stage.NEW.value,
        ago(settings.active_days),
        Stage.ACTIVE.value,
        ago(settings.dormant_days),
        Stage.DORMANT.value,
        Stage.LOST.value,
    ]
    return sql, params


def members_score(*, now: datetime.datetime | None = None) -> ScoreRun:
    """Score every member now; returns the run with its counts."""
    began = time.monotonic()
    now = now or timezone.now()
    settings = ScoringSettings.current()
    window = now - datetime.timedelta(days=settings.window_days)
    lookback = now - datetime.timedelta(days=max(settings.window_days, settings.dormant_days))
    adapt = connection.ops.adapt_datetimefield_value
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_INSERT_MISSING)
        aggregate = _AGGREGATE.replace("{span}", _SPAN_DAYS[connection.vendor])
        cursor.execute(aggregate, {"window": adapt(window), "lookback": adapt(lookback), "now": adapt(now)})
        cases, params = [], []
        for key, column in (("r", "last_purchase_at"), ("f", "frequency"), ("m", "monetary")):
            cursor.execute(_CUTS.format(column=column))
            sql, bounds = _score_case(column, [row[1] for row in cursor.fetchall()][:4])
            cases.append(f"{key} = {sql}")
            params.extend(bounds)
        segment_sql, segment_params = _segment_case(_high(settings, now))
        stage_sql, stage_params = _stage_case(settings, now)
        # R, F, M first: the segment's quintile conditions read the new scores, which SQL only
        # sees in a later statement (an UPDATE's expressions read the row as it was)
        cursor.execute(f"UPDATE {_SCORE} SET {', '.join(cases)}, scored_at = %s", [*params, adapt(now)])
        cursor.execute(
            f"UPDATE {_SCORE} SET segment = {segment_sql}, stage = {stage_sql} "
            f"FROM members_member WHERE members_member.id = {_SCORE}.member_id",
            [*segment_params, *stage_params],
        )
        run = ScoreRun.objects.create(
            at=now, seconds=Decimal(0), members=0, window_days=settings.window_days, method=settings.method
        )
        counts = (
            MemberScore.objects.values(
                "previous_segment", "segment", "stage", store_id=F("member__registration_store")
            )
            .annotate(members=Count("pk"), sales=Sum("monetary"))
            .order_by()
        )
        ScoreCount.objects.bulk_create(
            ScoreCount(run=run, **{**row, "sales": row["sales"] or Decimal(0)}) for row in counts
        )
        run.members = sum(c.members for c in run.counts.all())
        run.seconds = Decimal(f"{time.monotonic() - began:.2f}")
        run.save(update_fields=["members", "seconds"])
    return run
