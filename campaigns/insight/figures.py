"""Reading the rollups for a query: every figure comes from the tables, today's included (the
job rolls today up every few minutes; active-member counts are as of yesterday)."""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db.models import Case, Model, Sum, Value, When

from campaigns.insight.models import MemberDay, TierMoveDay
from campaigns.insight.query import Query
from campaigns.insight.rollups import entry_tier_id


def daily(
    model: type[Model],
    query: Query,
    fields: Iterable[str],
    *,
    by: tuple[str, ...] = (),
    store: str = "store",
    channel: str = "channel",
    tier: str | None = "tier",
    **where: Any,
) -> Daily:
    """One query: the fields' totals per (day, *by) over the query's period and filters."""
    fields = list(fields)
    group = ["day", *by]
    rows = (
        model._default_manager.filter(query.in_period(store=store, channel=channel, tier=tier), **where)
        .values(*group)
        .annotate(**{f"total_{f}": Sum(f) for f in fields})
        .order_by()
    )
    found = Daily(fields)
    found.dims = tuple(by)
    for row in rows:
        found.add(tuple(row[g] for g in group), {f: row[f"total_{f}"] for f in fields})
    return found


class Daily:
    """Totals per (day, *dimensions), summed again over any days the page asks for."""

    def __init__(self, fields: list[str]) -> None:
        self.fields = fields
        self.rows: dict[tuple, dict[str, Any]] = defaultdict(lambda: dict.fromkeys(fields, 0))

    def add(self, key: tuple, values: dict[str, Any]) -> None:
        for f in self.fields:
            self.rows[key][f] += values[f] or 0

    def total(self, field: str, start: datetime.date, end: datetime.date, **dims: Any) -> Any:
        """The field summed over [start, end]; ``dims`` pick a dimension by position name
        (``by`` of ``daily``), e.g. ``total("amount", s, e, kind="earn")``."""
        return sum((v[field] for key, v in self._within(start, end, dims)), 0)

    def grouped(
        self, field: str, start: datetime.date, end: datetime.date, position: int, **dims: Any
    ) -> dict[Any, Any]:
        """{dimension value: total} over [start, end] for the dimension at ``position`` of ``by``,
        of the rows ``dims`` pick (as ``total``): one pass, however many values the dimension has."""
        out: dict[Any, Any] = defaultdict(int)
        for key, values in self._within(start, end, dims):
            out[key[1 + position]] += values[field]
        return dict(out)

    def buckets(self, field: str, query: Query, **dims: Any) -> list[Any]:
        """One value per chart bucket of ``query``, in order (0 where nothing happened)."""
        per: dict[datetime.date, Any] = dict.fromkeys(query.buckets(), 0)
        for key, values in self._within(query.start, query.end, dims):
            per[query.bucket(key[0])] += values[field]
        return list(per.values())

    dims: tuple[str, ...] = ()

    def _within(self, start: datetime.date, end: datetime.date, dims: dict[str, Any]):
        for key, values in self.rows.items():
            if not start <= key[0] <= end:
                continue
            if any(key[1 + self.dims.index(name)] not in _many(want) for name, want in dims.items()):
                continue
            yield key, values


def _many(value: Any) -> tuple:
    return tuple(value) if isinstance(value, list | tuple | set) else (value,)


def ratio(part: Any, whole: Any) -> Decimal | None:
    return Decimal(part) / Decimal(whole) if whole else None


def change(now: Any, before: Any) -> Decimal | None:
    """Relative change against the previous period (None when there is nothing to compare)."""
    if now is None or before in (None, 0):
        return None
    return Decimal(now) / Decimal(before) - 1


def cumulative(
    model: type[Model],
    query: Query,
    field: str,
    ends: Iterable[datetime.date],
    *,
    by: str | None = None,
    store: str = "store",
    channel: str = "channel",
    tier: str | None = "tier",
) -> dict[Any, dict[datetime.date, Any]]:
    """One query: the field summed over all days up to each of ``ends`` (balances, members
    registered), per value of ``by`` (key None without it)."""
    ends = sorted(set(ends))
    sums_at = {
        f"upto_{i}": Sum(Case(When(day__lte=end, then=field), default=Value(0))) for i, end in enumerate(ends)
    }
    base = model._default_manager.filter(
        query.where(store=store, channel=channel, tier=tier), day__lte=ends[-1]
    )
    rows = base.values(by).annotate(**sums_at).order_by() if by else [base.aggregate(**sums_at)]
    out: dict[Any, dict[datetime.date, Any]] = defaultdict(lambda: dict.fromkeys(ends, 0))
    for row in rows:
        for i, end in enumerate(ends):
            out[row[by] if by else None][end] += row[f"upto_{i}"] or 0
    return dict(out)


Counts = dict[int | None, dict[datetime.date, int]]


def members_by_tier(query: Query, ends: Iterable[datetime.date], *, every_tier: bool = False) -> Counts:
    """{tier: {date: members in it at the end of that day}} in the query's stores and channel,
    and {None: {date: all members}}: everyone joins at the entry tier, then moves. One query
    for all members when neither ``every_tier`` nor the query's tier asks for more, else four."""
    ends = sorted(set(ends))
    anywhere = Query(query.start, query.end, query.stores, query.channel, None)
    joined = cumulative(MemberDay, anywhere, "joined", ends, tier=None).get(None, dict.fromkeys(ends, 0))
    if not every_tier and query.tier is None:
        return {None: joined}
    into = cumulative(TierMoveDay, anywhere, "moves", ends, by="to_tier_id", tier=None)
    out = cumulative(TierMoveDay, anywhere, "moves", ends, by="from_tier_id", tier=None)
    entry = entry_tier_id()
    tiers = {entry, *into, *out}
    counts: Counts = {
        tier: {
            end: (joined[end] if tier == entry else 0)
            + into.get(tier, {}).get(end, 0)
            - out.get(tier, {}).get(end, 0)
            for end in ends
        }
        for tier in tiers
    }
    counts[None] = dict(joined)
    return counts
