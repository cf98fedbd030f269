"""Demo points (``PointsConfig.demo_seed``): purchases over the last 14 months for a share of the
new demo members, each earning 积分 and 成长值 through ``points_earn``.

Every purchase of ¥N earns N points and N growth (the tier multipliers belong to the earning
rules, which the demo does not model). Points are pending for the type's return window, then
the scheduled jobs (``lots_activate_due``, ``lots_expire_due``) run once at the end, as they
would have: older lots are available, last week's still pending, and the demo's activation job
runs every minute so that they visibly become available.

Spenders fall into segments by yearly spend. The floors sit above the tier thresholds the
tiers demo configures (1,000 / 5,000 / 20,000 growth in a calendar year), and each member's
busier year of the current and the previous one is topped up to the floor, so every segment
really reaches its tier whatever the date. Every segment gets at least one member.
"""

from __future__ import annotations

import datetime
import math
import random
from typing import NamedTuple

from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from members.demo import DemoRun
from members.models import Member
from points.models import PointType, Source
from points.policy import add_months
from points.services import lots_activate_due, lots_expire_due, points_earn

HISTORY_MONTHS = 14
SHARE, MAX_SPENDERS = 0.2, 1000  # of the new active members: 600 of the default 3,000
MIN_HISTORY = datetime.timedelta(days=180)  # big spenders are drawn from older members first
MAX_PURCHASES = 12  # per member; each purchase is two ledger writes (~1.3 ms each on SQLite)


class Segment(NamedTuple):
    name: str
    share: float
    yearly: tuple[int, int]  # CNY spent in a year, drawn uniformly; the first is the floor
    visits: tuple[int, int]  # purchases in a year


# Biggest first: they get the members with the longest history.
SEGMENTS = [
    Segment("top", 0.02, (24_000, 60_000), (6, 12)),  # 钻石
    Segment("high", 0.08, (6_000, 18_000), (4, 8)),  # 金卡
    Segment("mid", 0.25, (1_200, 4_500), (2, 5)),  # 银卡
    Segment("low", 0.65, (80, 900), (1, 2)),  # 普通会员
]


class Purchase(NamedTuple):
    at: datetime.datetime
    amount: int


def seed(run: DemoRun) -> str:
    rng = run.rng("points")
    history_start = add_months(run.now, -HISTORY_MONTHS)
    spenders = _pick_spenders(run, rng, history_start)
    point_types = {code: PointType.objects.get(code=code) for code in ("points", "growth")}
    purchases = 0
    for member, segment in spenders:
        start = max(history_start, member.created_at)
        plan = _purchases(rng, segment, start, run.now)
        for i, purchase in enumerate(plan, start=1):
            order = f"DEMO{member.member_number}-{i:02d}"
            for code, point_type in point_types.items():
                points_earn(
                    member=member,
                    point_type=point_type,
                    amount=purchase.amount,
                    source=Source.PURCHASE,
                    source_ref=order,
                    idempotency_key=f"demo:{order}:{code}",
                    reason="门店消费" if rng.random() < 0.7 else "线上商城订单",
                    at=purchase.at,
                )
        purchases += len(plan)
    # the nightly jobs, caught up to now
    activated = lots_activate_due(now=run.now)
    expired = lots_expire_due(now=run.now)
    _activate_every_minute()
    return (
        f"{len(spenders):,} members with {purchases:,} purchases; "
        f"{activated:,} lots now available, {expired:,} expired; activation runs every minute"
    )


def _activate_every_minute() -> None:
    """Last week's demo purchases come out of their return window one after another: with the
    activation job every minute instead of every 15, the demo shows pending points becoming
    available while one watches (an administrator can change it back in 周期任务)."""
    job = PeriodicTask.objects.filter(name="points-activate-due-lots").select_related("crontab").first()
    if job is None or job.crontab is None:  # an administrator removed it, or scheduled it otherwise
        return
    every = {"minute": "*", "hour": "*", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"}
    job.crontab, _created = CrontabSchedule.objects.get_or_create(**every, timezone=job.crontab.timezone)
    job.save()  # the library's save() tells a running beat to reload


def _pick_spenders(run: DemoRun, rng: random.Random, history_start) -> list[tuple[Member, Segment]]:
    """A random share of the run's active members, each with a spending segment."""
    active = run.members.filter(status=Member.Status.ACTIVE)
    count = active.count()
    wanted = min(count, MAX_SPENDERS, math.ceil(count * SHARE))
    if not wanted:
        return []
    positions = set(rng.sample(range(count), wanted))
    ids = active.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=10_000)
    chosen = list(
        Member.objects.filter(pk__in=[pk for i, pk in enumerate(ids) if i in positions]).order_by("pk")
    )
    seasoned = [m for m in chosen if run.now - max(m.created_at, history_start) >= MIN_HISTORY]
    recent = [m for m in chosen if run.now - max(m.created_at, history_start) < MIN_HISTORY]
    rng.shuffle(seasoned)
    rng.shuffle(recent)
    ordered = seasoned + recent
    result, taken = [], 0
    for segment in SEGMENTS[:-1]:
        size = max(1, round(wanted * segment.share))
        result += [(m, segment) for m in ordered[taken : taken + size]]
        taken += size
    result += [(m, SEGMENTS[-1]) for m in ordered[taken:]]
    return sorted(result, key=lambda pair: pair[0].pk)


def _purchases(
    rng: random.Random, segment: Segment, start: datetime.datetime, now: datetime.datetime
) -> list[Purchase]:
    """Purchases between ``start`` and ``now`` at the segment's yearly rate, oldest first."""
    years = max((now - start).total_seconds() / (365 * 86400), 1 / 52)
    total = rng.randint(*segment.yearly) * years
    count = max(1, min(MAX_PURCHASES, round(rng.randint(*segment.visits) * years)))
    span = (now - start).total_seconds()
    plan = [
        Purchase(
            max(start, _shop_hours(rng, start + datetime.timedelta(seconds=rng.uniform(0, span)), now)),
            amount,
        )
        for amount in _split(rng, max(count, round(total)), count)
    ]
    plan = _top_up(rng, segment, plan, start, now)
    return sorted(plan)


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    """``total`` CNY in ``parts`` uneven purchases of at least ¥1."""
    weights = [rng.uniform(0.4, 1.6) for _ in range(parts)]
    scale = total / sum(weights)
    return [max(1, round(w * scale)) for w in weights]


def _shop_hours(rng: random.Random, moment: datetime.datetime, now: datetime.datetime) -> datetime.datetime:
    """The same day between 10:00 and 21:59 local time (not after ``now``)."""
    local = timezone.localtime(moment)
    hour, minute, second = rng.randint(10, 21), rng.randint(0, 59), rng.randint(0, 59)
    opened = local.replace(hour=hour, minute=minute, second=second, microsecond=0)
    return min(opened, now - datetime.timedelta(minutes=5))


def _top_up(
    rng: random.Random,
    segment: Segment,
    plan: list[Purchase],
    start: datetime.datetime,
    now: datetime.datetime,
) -> list[Purchase]:
    """Lift the busier of this and last calendar year to the segment's floor, with one purchase."""
    this_year = timezone.localtime(now).year
    by_year = {this_year: 0, this_year - 1: 0}
    for purchase in plan:
        year = timezone.localtime(purchase.at).year
        if year in by_year:
            by_year[year] += purchase.amount
    year = max(by_year, key=lambda y: (by_year[y], y))
    missing = segment.yearly[0] - by_year[year]
    if missing <= 0:
        return plan
    first = max(start, timezone.make_aware(datetime.datetime(year, 1, 1)))
    last = min(now, timezone.make_aware(datetime.datetime(year + 1, 1, 1)))
    if first >= last:  # registered after the year ended: can only be this year
        first, last = start, now
    moment = first + datetime.timedelta(seconds=rng.uniform(0, (last - first).total_seconds()))
    at = max(first, min(_shop_hours(rng, moment, now), last - datetime.timedelta(minutes=1)))
    return [*plan, Purchase(at, missing)]
