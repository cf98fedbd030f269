"""What one member did, drawn before it is replayed: purchases (times with the sales festivals,
amounts lognormal around ¥120, channels and stores), their refunds, and behaviour events.

Counts are the member's propensity times the years they could act times a scale the run
computes so the totals come out at what was asked (``randomized rounding``: a member with
3.4 expected purchases makes 3 or 4 of them, so the sums stay unbiased).
"""

from __future__ import annotations

import bisect
import datetime
import itertools
import math
import random
from dataclasses import dataclass

from campaigns.scale.people import DAY, Person
from campaigns.scale.programme import Programme, StoreInfo
from members.models import Channel

HOURS = list(range(24))
# share of purchases per local hour: shops open 9:00-22:00, evenings busiest
SHOP_HOURS = [0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 6, 7, 9, 8, 7, 7, 7, 8, 10, 11, 10, 8, 5, 2]
SIGN_IN_HOURS = [0, 0, 0, 0, 0, 0, 1, 4, 8, 6, 4, 3, 5, 4, 3, 3, 3, 3, 4, 5, 7, 8, 6, 2]
ONLINE_WEIGHTS: dict[str, int] = {
    Channel.TMALL: 40,
    Channel.JD: 25,
    Channel.DOUYIN: 20,
    Channel.WECHAT_MINIPROGRAM: 15,
}
REFUNDS = 0.04  # of purchases; most of them whole, some partial
EVENTS_PER_PURCHASE = 0.5  # behaviour events the run aims at, per purchase asked for


def _cumulative(weights: list[int]) -> list[int]:
    return list(itertools.accumulate(weights))


def festival_weight(day: datetime.date) -> float:
    """How much busier a day is than usual: 双11, 618, the year-end."""
    if day.month == 11 and day.day <= 11:
        return 3.0 if day.day >= 9 else 2.0
    if day.month == 6 and day.day <= 18:
        return 2.0
    if day.month == 12 and day.day >= 20:
        return 1.5
    return 1.0


@dataclass(slots=True)
class PurchaseFact:
    at: int
    source: str
    order: str
    channel: str
    store: StoreInfo
    gross: int  # cents
    paid: int
    shipping: int
    refund_at: int | None = None
    refund: int = 0  # cents


@dataclass(slots=True)
class EventFact:
    at: int
    code: str
    key: str
    channel: str


def randomized(expected: float, rng: random.Random) -> int:
    whole = math.floor(expected)
    return whole + (rng.random() < expected - whole)


class Facts:
    """Draws members' purchases and events for one run."""

    def __init__(
        self,
        *,
        programme: Programme,
        start: int,
        now: int,
        purchase_scale: float,
        event_scale: float,
        tz: datetime.tzinfo,
    ) -> None:
        self.start, self.now, self.tz = start, now, tz
        self.purchase_scale, self.event_scale = purchase_scale, event_scale
        self.online = [s for s in programme.stores if s.channel != Channel.STORE]
        self.online_weights = _cumulative([ONLINE_WEIGHTS.get(s.channel, 10) for s in self.online])
        self.shops = [s for s in programme.stores if s.channel == Channel.STORE]
        self.shop_hours = _cumulative(SHOP_HOURS)
        self.sign_in_hours = _cumulative(SIGN_IN_HOURS)
        self.day_weight: dict[int, float] = {}
        self.local_offset = int(tz.utcoffset(datetime.datetime.fromtimestamp(now)).total_seconds())  # type: ignore[union-attr]

    def _day(self, at: int) -> int:
        """Local midnight of the day ``at`` falls on (epoch seconds)."""
        return (at + self.local_offset) // DAY * DAY - self.local_offset

    def _weight(self, midnight: int) -> float:
        if (weight := self.day_weight.get(midnight)) is None:
            day = datetime.datetime.fromtimestamp(midnight, self.tz).date()
            weight = self.day_weight[midnight] = festival_weight(day)
        return weight

    def _moment(self, rng: random.Random, first: int, hours: list[int]) -> int | None:
        """A time on a day drawn between ``first`` and now (busier on festival days), at an hour
        drawn from ``hours``; None if it falls outside the window."""
        while True:
            day = self._day(int(rng.uniform(first, self.now)))
            if rng.random() * 3.0 < self._weight(day):
                break
        hour = bisect.bisect(hours, rng.random() * hours[-1])
        at = day + hour * 3600 + rng.randrange(3600)
        return at if first <= at < self.now else None

    def purchases(self, person: Person, rng: random.Random, years: float) -> list[PurchaseFact]:
        first = max(person.registered, self.start) + 600
        if first >= self.now or not person.buys:
            return []
        count = randomized(person.buys * years * self.purchase_scale, rng)
        times = sorted(t for t in (self._moment(rng, first, self.shop_hours) for _ in range(count)) if t)
        facts = []
        for n, at in enumerate(times, start=1):
            if rng.random() < person.online:
                store = self.online[
                    bisect.bisect(self.online_weights, rng.random() * self.online_weights[-1])
                ]
            elif rng.random() < 0.85:
                store = person.store
            else:
                store = rng.choice(self.shops)
            paid = min(max(int(rng.lognormvariate(4.79, 0.75) * 10) * 10, 500), 500_000)  # ¥5 to ¥5,000
            gross = paid if rng.random() < 0.85 else paid * rng.randint(105, 130) // 100
            shipping = 0
            if store.channel != Channel.STORE and rng.random() < 0.3 and paid > 2000:
                shipping = rng.choice((600, 800, 1000, 1200))
            fact = PurchaseFact(
                at, store.source, f"{person.number}-{n:04d}", store.channel, store, gross, paid, shipping
            )
            if rng.random() < REFUNDS:
                back = at + int(DAY * min(rng.lognormvariate(1.1, 0.9), 30)) + 600
                if back < self.now:
                    fact.refund_at = back
                    partial = rng.random() < 0.4 and paid >= 2000
                    fact.refund = (
                        max(100, paid * rng.randint(10, 90) // 100 // 100 * 100) if partial else paid
                    )
            facts.append(fact)
        return facts

    def events(self, person: Person, rng: random.Random, years: float, purchases: int) -> list[EventFact]:
        first = max(person.registered, self.start) + 300
        if first >= self.now:
            return []
        events = []
        if person.signs:
            days: set[int] = set()
            count = randomized(person.signs * years * self.event_scale, rng)
            for _ in range(min(count, int((self.now - first) / DAY))):
                at = self._moment(rng, first, self.sign_in_hours)
                if at is None or (day := self._day(at)) in days:
                    continue
                days.add(day)
                local = datetime.datetime.fromtimestamp(at, self.tz)
                events.append(
                    EventFact(at, "daily_sign_in", f"signin:{person.id}:{local:%Y%m%d}", "wechat_mp")
                )
        if person.registered >= self.start and rng.random() < 0.3:
            at = person.registered + rng.randrange(300, 30 * DAY)
            if at < self.now:
                events.append(EventFact(at, "profile_completed", f"profile:{person.id}", "app"))
        if purchases and rng.random() < 0.15:
            per_month: dict[int, int] = {}
            for n in range(randomized(purchases * 0.3, rng)):
                at = self._moment(rng, first, self.sign_in_hours)
                if at is None:
                    continue
                local = datetime.datetime.fromtimestamp(at, self.tz)
                month = local.year * 12 + local.month
                if per_month.get(month, 0) >= 3:  # the rule's cap: three a month
                    continue
                per_month[month] = per_month.get(month, 0) + 1
                events.append(EventFact(at, "review", f"review:{person.id}:{n}", "app"))
        return events
