"""What a page is asked for: a period, the previous one to compare with, and the filters.

The grain of the charts follows the period's length, as operators expect from other tools: up
to 31 days by day, up to 92 by week, up to 366 by month, longer by year.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass, replace

from django.db.models import Q

DAY, WEEK, MONTH, YEAR = "day", "week", "month", "year"


@dataclass(frozen=True)
class Query:
    start: datetime.date
    end: datetime.date  # inclusive
    #: None: every store; otherwise only these (store staff always get their own stores here)
    stores: tuple[int, ...] | None = None
    channel: str = ""
    tier: int | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Query:
        """The period of the same length just before this one."""
        return replace(
            self,
            start=self.start - datetime.timedelta(days=self.days),
            end=self.start - datetime.timedelta(days=1),
        )

    @property
    def grain(self) -> str:
        if self.days <= 31:
            return DAY
        if self.days <= 92:
            return WEEK
        if self.days <= 366:
            return MONTH
        return YEAR

    def bucket(self, day: datetime.date) -> datetime.date:
        """The first day of the chart bucket ``day`` falls in."""
        if self.grain == WEEK:
            return day - datetime.timedelta(days=day.weekday())
        if self.grain == MONTH:
            return day.replace(day=1)
        if self.grain == YEAR:
            return day.replace(month=1, day=1)
        return day

    def buckets(self) -> list[datetime.date]:
        seen: dict[datetime.date, None] = {}
        for day in self.each_day():
            seen.setdefault(self.bucket(day))
        return list(seen)

    def each_day(self) -> Iterator[datetime.date]:
        day = self.start
        while day <= self.end:
            yield day
            day += datetime.timedelta(days=1)

    def where(self, *, store: str = "store", channel: str = "channel", tier: str | None = "tier") -> Q:
        """The filters as a condition on a rollup table (its day is filtered separately)."""
        condition = Q()
        if self.stores is not None:
            condition &= Q(**{f"{store}__in": self.stores})
        if self.channel:
            condition &= Q(**{channel: self.channel})
        if self.tier is not None and tier is not None:
            condition &= Q(**{f"{tier}_id": self.tier})
        return condition

    def in_period(self, *, store: str = "store", channel: str = "channel", tier: str | None = "tier") -> Q:
        return Q(day__gte=self.start, day__lte=self.end) & self.where(store=store, channel=channel, tier=tier)
