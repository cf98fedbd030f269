"""The scoring pass: every member's RFM scores, segment and lifecycle stage, in a few statements.

1. One aggregate over the look-back's purchases (the RFM window, or the dormancy limit when
   longer) fills a scratch table with each buyer's last purchase, and orders and net sales
   inside the window.
2. The quintile cut points of R, F and M among members who bought in the window (NTILE, one
   query each, over the scratch table).
3. One UPDATE writes each scored member's new figures, scores 1–5 (equal values get equal
   scores), segment and stage, and keeps the old segment in ``previous_segment`` so the run can
   tell who moved where; one INSERT gives members scored for the first time their row, with no
   previous segment. Each score row is written once a run: at a million members, every extra
   full-table UPDATE costs about as much as the aggregate.
4. The run's counts per (previous segment, segment, stage) are kept for the pages.

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
_WINDOW = "scoring_window"  # the scratch table: a temporary table, dropped at the end of the run

_AGGREGATE = f"""
CREATE TEMPORARY TABLE {_WINDOW} AS
SELECT member_id,
       MIN(CASE WHEN occurred_at >= %(window)s THEN occurred_at END) AS first_at,
       MAX(occurred_at) AS last_at,
       SUM(CASE WHEN occurred_at >= %(window)s THEN 1 ELSE 0 END) AS orders,
       SUM(CASE WHEN occurred_at >= %(window)s THEN paid_amount - refunded_amount ELSE 0 END) AS sales
FROM purchases_purchase
WHERE occurred_at >= %(lookback)s AND occurred_at < %(now)s AND member_id IS NOT NULL
GROUP BY member_id
"""

#: Days from the window's first purchase to the last: the one thing SQL dialects write differently.
_SPAN_DAYS = {
    "postgresql": "EXTRACT(EPOCH FROM (w.last_at - w.first_at)) / 86400",
    "sqlite": "(julianday(w.last_at) - julianday(w.first_at))",
}

_CUTS = f"""
SELECT tile, MAX(value) FROM (
    SELECT {{column}} AS value, NTILE(5) OVER (ORDER BY {{column}}) AS tile
    FROM {_WINDOW} WHERE orders > 0
) t GROUP BY tile ORDER BY tile
"""

#: Every member with their figures and scores (members with no purchase in the look-back get
#: nulls and zeros from the LEFT JOIN); the outer query adds segment and stage, which read the
#: scores by name.
_FIGURES = """
SELECT s.*, {segment} AS segment, {stage} AS stage FROM (
    SELECT m.id AS member_id, m.created_at, w.first_at AS first_purchase_at,
           w.last_at AS last_purchase_at, COALESCE(w.orders, 0) AS frequency,
           CASE WHEN w.orders > 1 THEN {span} / (w.orders - 1) END AS interval_days,
           COALESCE(w.sales, 0) AS monetary, {r} AS r, {f} AS f, {m} AS m
    FROM members_member m LEFT JOIN {window} w ON w.member_id = m.id
) s
"""

_COLUMNS = (
    "first_purchase_at",
    "last_purchase_at",
    "frequency",
    "interval_days",
    "monetary",
    "r",
    "f",
    "m",
    "segment",
    "stage",
)


def _score_case(column: str, cuts: list[Any]) -> tuple[str, list[Any]]:
    """SQL giving 1–5 from the four upper bounds of the lower quintiles (0 when nothing bought)."""
    if not cuts:
        return "0", []
    bounds = (cuts + [cuts[-1]] * 4)[:4]
    sql = (
        "CASE WHEN COALESCE(w.orders, 0) = 0 THEN 0 "
        + "".join(f"WHEN {column} <= %s THEN {score} " for score in range(1, 5))
        + "ELSE 5 END"
    )
    return sql, bounds


def _high(settings: ScoringSettings, now: datetime.datetime) -> dict[str, tuple[str, list[Any]]]:
    """SQL deciding high (1) or low (0) for each of R, F, M; it reads the scores and figures by name."""
    if settings.method == ScoringSettings.Method.QUINTILES:
        return {k: (f"{k} >= 4", []) for k in ("r", "f", "m")}
    since = now - datetime.timedelta(days=settings.recent_days)
    return {
        "r": ("last_purchase_at >= %s", [connection.ops.adapt_datetimefield_value(since)]),
        "f": ("frequency >= %s", [settings.frequent_orders]),
        # a cast, as SQLite binds decimals as text, and text never equals a number there
        "m": ("monetary >= CAST(%s AS NUMERIC)", [str(settings.monetary_amount)]),
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
        cursor.execute(f"DROP TABLE IF EXISTS {_WINDOW}")
        cursor.execute(_AGGREGATE, {"window": adapt(window), "lookback": adapt(lookback), "now": adapt(now)})
        cursor.execute(f"ANALYZE {_WINDOW}")  # nothing else gathers a temporary table's statistics
        scores, params = {}, []
        for key, column in (("r", "last_at"), ("f", "orders"), ("m", "sales")):
            cursor.execute(_CUTS.format(column=column))
            scores[key], bounds = _score_case(f"w.{column}", [row[1] for row in cursor.fetchall()][:4])
            params.extend(bounds)
        segment_sql, segment_params = _segment_case(_high(settings, now))
        stage_sql, stage_params = _stage_case(settings, now)
        figures = _FIGURES.format(
            segment=segment_sql, stage=stage_sql, span=_SPAN_DAYS[connection.vendor], window=_WINDOW, **scores
        )
        # the outer query's placeholders come first in the text: segment, stage, then the scores
        params = [*segment_params, *stage_params, *params]
        # one upsert: an UPDATE of the scored and an INSERT of the rest "WHERE NOT EXISTS" took
        # hours on a first run at a million (planned on an empty table, the anti-join re-read
        # the rows being inserted for every member)
        columns = ", ".join(_COLUMNS)
        assignments = ", ".join(f"{column} = EXCLUDED.{column}" for column in _COLUMNS)
        cursor.execute(
            f"INSERT INTO {_SCORE} (member_id, {columns}, previous_segment, scored_at) "
            f"SELECT s.member_id, {', '.join(f's.{c}' for c in _COLUMNS)}, '', %s FROM ({figures}) s "
            f"WHERE true "  # SQLite reads ON CONFLICT after a bare FROM as a join's
            f"ON CONFLICT (member_id) DO UPDATE SET previous_segment = {_SCORE}.segment, {assignments}, "
            "scored_at = EXCLUDED.scored_at",
            [adapt(now), *params],
        )
        cursor.execute(f"DROP TABLE {_WINDOW}")
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
