"""The points roll-forward (递延负债): per month and point type, opening balance, movements, closing.

Read from the daily points rollup (today's rolled up every few minutes), so each month's closing is the
ledger's balance at the month's end: opening + issued − reversed + adjusted − redeemed −
expired + transfers = closing, and the last closing equals the sum of members' balances.
CNY figures use each point type's value per point today (the ledger keeps no history of it).

Breakage (the share of issued points expected never to be redeemed) is estimated as in the
liability report: of the points that have left accounts by being spent or expiring, the share
that expired. The expected cost of the closing balance is its value × (1 − breakage).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum
from django.db.models.functions import TruncMonth
from django.utils.translation import gettext as _

from campaigns.insight.models import PointsDay
from campaigns.insight.tables import CNY, PERCENT, POINTS, TEXT, Table
from points.models import Entry, PointType

#: Movement columns: (key, entry kinds, sign that makes the column read positive)
MOVEMENTS: list[tuple[str, tuple[str, ...], int]] = [
    ("issued", (Entry.Kind.EARN,), 1),
    ("reversed", (Entry.Kind.REVERSE,), -1),
    ("adjusted", (Entry.Kind.ADJUST,), 1),
    ("redeemed", (Entry.Kind.SPEND, Entry.Kind.REFUND), -1),
    ("expired", (Entry.Kind.EXPIRE,), -1),
    # between members: nets to 0
    ("transferred", (Entry.Kind.TRANSFER, Entry.Kind.MERGE, Entry.Kind.POOL), 1),
    ("moved_in", (Entry.Kind.OPENING,), 1),  # balances brought from an old system (数据迁移)
]


@dataclass(frozen=True)
class RollRow:
    month: datetime.date
    point_type: PointType
    opening: int
    moves: dict[str, int]  # key -> points, read positive (reversed 10 = ten points taken back)
    closing: int

    def movement_total(self) -> int:
        return sum(self.moves[key] * sign for key, _kinds, sign in MOVEMENTS)


def _month(value: datetime.date | datetime.datetime) -> datetime.date:
    return (value.date() if isinstance(value, datetime.datetime) else value).replace(day=1)


def roll_forward(first: datetime.date, last: datetime.date) -> list[RollRow]:
    """Months from ``first``'s to ``last``'s, oldest first, for every point type."""
    first, last = first.replace(day=1), last.replace(day=1)
    types = list(PointType.objects.order_by("pk"))
    opening = dict(
        PointsDay.objects.filter(day__lt=first)
        .values("point_type_id")
        .annotate(n=Sum("amount"))
        .values_list("point_type_id", "n")
    )
    moved: dict[tuple[datetime.date, int, str], int] = defaultdict(int)
    end = _next_month(last)
    rows = (
        PointsDay.objects.filter(day__gte=first, day__lt=end)
        .annotate(month=TruncMonth("day"))
        .values("month", "point_type_id", "kind")
        .annotate(n=Sum("amount"))
        .order_by()
    )
    for row in rows:
        moved[(_month(row["month"]), row["point_type_id"], row["kind"])] += row["n"] or 0
    out: list[RollRow] = []
    balance = {pt.pk: opening.get(pt.pk) or 0 for pt in types}
    month = first
    while month <= last:
        for pt in types:
            moves = {
                key: sign * sum(moved.get((month, pt.pk, kind), 0) for kind in kinds)
                for key, kinds, sign in MOVEMENTS
            }
            line = RollRow(month, pt, balance[pt.pk], moves, 0)
            closing = line.opening + line.movement_total()
            out.append(RollRow(month, pt, line.opening, moves, closing))
            balance[pt.pk] = closing
        month = _next_month(month)
    return out


def _next_month(month: datetime.date) -> datetime.date:
    return (month.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)


def breakage_rates(until: datetime.date) -> dict[int, Decimal]:
    """{point type: expired ÷ (redeemed + expired)} over all history up to ``until``'s month."""
    left: dict[int, dict[str, int]] = defaultdict(lambda: {"redeemed": 0, "expired": 0})
    kinds = {Entry.Kind.SPEND: "redeemed", Entry.Kind.REFUND: "redeemed", Entry.Kind.EXPIRE: "expired"}
    rows = (
        PointsDay.objects.filter(day__lt=_next_month(until.replace(day=1)), kind__in=list(kinds))
        .values("point_type_id", "kind")
        .annotate(n=Sum("amount"))
        .order_by()
    )
    for row in rows:
        left[row["point_type_id"]][kinds[row["kind"]]] -= row["n"] or 0
    return {
        pk: (Decimal(v["expired"]) / (v["redeemed"] + v["expired"])).quantize(Decimal("0.0001"))
        for pk, v in left.items()
        if v["redeemed"] + v["expired"]
    }


def roll_forward_tables(rows: list[RollRow], breakage: dict[int, Decimal]) -> list[Table]:
    columns = [(_("month"), TEXT), (_("point type"), TEXT), (_("opening"), POINTS)]
    headers = {
        "issued": _("issued"),
        "reversed": _("reversed"),
        "adjusted": _("adjusted"),
        "redeemed": _("redeemed"),
        "expired": _("expired"),
        "transferred": _("transferred"),
        "moved_in": _("moved in from the old system"),
    }
    columns += [(headers[key], POINTS) for key, _k, _s in MOVEMENTS] + [(_("closing"), POINTS)]
    points = Table(_("Points"), columns)
    money = Table(_("CNY"), [(h, CNY if kind == POINTS else kind) for h, kind in columns])
    for row in rows:
        cells = [row.opening, *(row.moves[key] for key, _k, _s in MOVEMENTS), row.closing]
        label = [f"{row.month:%Y-%m}", row.point_type.name]
        points.rows.append([*label, *cells])
        money.rows.append([*label, *(Decimal(c) * row.point_type.cny_value for c in cells)])
    summary = Table(
        _("Breakage"),
        [
            (_("point type"), TEXT),
            (_("closing"), POINTS),
            (_("value (CNY)"), CNY),
            (_("breakage rate"), PERCENT),
            (_("expected cost (CNY)"), CNY),
        ],
    )
    last: dict[int, RollRow] = {row.point_type.pk: row for row in rows}
    for pk, row in last.items():
        value = row.closing * row.point_type.cny_value
        rate = breakage.get(pk, Decimal(0))
        summary.rows.append(
            [row.point_type.name, row.closing, value, rate, (value * (1 - rate)).quantize(Decimal("0.01"))]
        )
    return [points, money, summary]
