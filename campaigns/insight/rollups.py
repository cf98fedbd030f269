"""The nightly rollup: one local day's facts summed into the tables of ``insight.models``.

``day_rollup(day)`` replaces the day's rows in one transaction, so it can run again for any
day (a late import, a backfill) and leaves the same tables. Each table is one aggregate query
over the day's facts, grouped in the database; Python only turns the groups into rows.
Today is rolled up every few minutes (``today_rollup``), the finished day again at night.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from benefits.models import Coupon, Redemption
from campaigns.insight.models import (
    ActiveDay,
    AwardDay,
    BalanceDay,
    CohortMonth,
    CouponDay,
    MemberDay,
    PointsDay,
    RedemptionDay,
    RollupDay,
    SalesDay,
    TierMoveDay,
)
from campaigns.models import AwardLine
from members.models import Member
from members.purchases.models import MemberEvent, Purchase, Refund
from points.models import Account, Entry
from tiers.models import Tier, TierChange

#: Rolling windows (days) of the active-member counts: a day, a week, a month (MAU), a quarter.
WINDOWS = (1, 7, 30, 90)

DAY_TABLES: tuple[type[Model], ...] = (
    AwardDay,
    SalesDay,
    MemberDay,
    TierMoveDay,
    PointsDay,
    RedemptionDay,
    CouponDay,
    ActiveDay,
)
#: Snapshots of how things stand (no history to add up): rolled up for yesterday and today only,
#: and left as they are when an older day is rolled up again.
SNAPSHOTS: tuple[type[Model], ...] = (BalanceDay,)


def day_bounds(day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """[start, end) of a local day, as aware datetimes in the programme's time zone."""
    zone = timezone.get_current_timezone()
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone)
    return start, end


def entry_tier_id() -> int | None:
    """The tier every member starts at: the lowest rank."""
    return Tier.objects.order_by("rank").values_list("pk", flat=True).first()


def tier_at(member_ref: str, end: datetime.datetime, entry_tier: int | None) -> Coalesce:
    """The tier ``member_ref`` held at ``end``: its last recorded change before then, else the
    entry tier (members get a status row only when something happens to their tier)."""
    last = TierChange.objects.filter(member_id=OuterRef(member_ref), at__lt=end).order_by("-at", "-id")
    return Coalesce(Subquery(last.values("to_tier_id")[:1]), Value(entry_tier), output_field=IntegerField())


@dataclass
class DayFigures:
    """One day's rollup rows, unsaved (``day_rollup`` saves them)."""

    day: datetime.date
    rows: dict[type[Model], list[Any]] = field(default_factory=dict)

    def of(self, model: type[Model]) -> list[Any]:
        return self.rows.get(model, [])


def _merged(
    day: datetime.date, model: type[Model], groups: Iterable[Iterable[dict]], keys: list[str]
) -> list:
    """Rows of ``model`` from several aggregates of the same dimensions, one row per key."""
    merged: dict[tuple, dict] = {}
    for rows in groups:
        for row in rows:
            key = tuple(row[k] for k in keys)
            merged.setdefault(key, {}).update(row)
    return [model(day=day, **values) for values in merged.values()]


def _sales(day: datetime.date, start, end, entry: int | None) -> list[SalesDay]:
    keys = ["store_id", "channel", "tier_id"]
    sold = (
        Purchase.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
        .values("store_id", "channel", tier_id=tier_at("member_id", end, entry))
        .annotate(orders=Count("pk"), sales=Sum("paid_amount"))
        .order_by()
    )
    refunded = (
        Refund.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
        .values(
            store_id=F("purchase__store"),
            channel=F("purchase__channel"),
            tier_id=tier_at("purchase__member_id", end, entry),
        )
        .annotate(refunds=Count("pk"), refund_amount=Sum("amount"))
        .order_by()
    )
    return _merged(day, SalesDay, (sold, refunded), keys)


def _members(day: datetime.date, start, end) -> list[MemberDay]:
    joined = (
        Member.objects.filter(created_at__gte=start, created_at__lt=end)
        .values(store_id=F("registration_store"), channel=F("registration_channel"))
        .annotate(joined=Count("pk"))
        .order_by()
    )
    return [MemberDay(day=day, **row) for row in joined]


def _tier_moves(day: datetime.date, start, end, entry: int | None) -> list[TierMoveDay]:
    moves = (
        TierChange.objects.filter(at__gte=start, at__lt=end)
        .annotate(from_id=Coalesce("from_tier", Value(entry), output_field=IntegerField()))
        .exclude(from_id=F("to_tier"))  # the earned tier moved, the tier held did not
        .values(
            "from_id",
            "to_tier_id",
            store_id=F("member__registration_store"),
            channel=F("member__registration_channel"),
        )
        .annotate(moves=Count("pk"))
        .order_by()
    )
    return [TierMoveDay(day=day, from_tier_id=row.pop("from_id"), **row) for row in moves]


def _points(day: datetime.date, start, end, entry: int | None) -> list[PointsDay]:
    moved = (
        Entry.objects.filter(created_at__gte=start, created_at__lt=end)
        .values(
            "kind",
            "source",
            point_type_id=F("account__point_type"),
            store_id=F("account__member__registration_store"),
            channel=F("account__member__registration_channel"),
            tier_id=tier_at("account__member_id", end, entry),
        )
        .annotate(amount=Sum("amount"), entries=Count("pk"))
        .order_by()
    )
    return [PointsDay(day=day, **row) for row in moved]


def _redemptions(day: datetime.date, start, end, entry: int | None) -> list[RedemptionDay]:
    # The partner API redeems as the partner's own user; anyone else is someone in the admin.
    via = Case(
        When(actor__partner__isnull=False, then=Value(RedemptionDay.Via.API)),
        default=Value(RedemptionDay.Via.ADMIN),
    )
    exchanged = (
        Redemption.objects.filter(created_at__gte=start, created_at__lt=end)
        .values(
            "reward_id",
            via=via,
            store_id=F("member__registration_store"),
            channel=F("member__registration_channel"),
            tier_id=tier_at("member_id", end, entry),
        )
        .annotate(redemptions=Count("pk"), points=Sum("points"))
        .order_by()
    )
    return [RedemptionDay(day=day, **row) for row in exchanged]


def _coupons(day: datetime.date, start, end, entry: int | None) -> list[CouponDay]:
    dims = {
        "store_id": F("member__registration_store"),
        "channel": F("member__registration_channel"),
        "tier_id": tier_at("member_id", end, entry),
    }

    def counted(name: str, moment: Q) -> Iterator[dict]:
        rows = (
            Coupon.objects.filter(moment)
            .values("benefit_id", "origin", **dims)
            .annotate(**{name: Count("pk")})
        )
        return iter(rows.order_by())

    expired = Q(status=Coupon.Status.EXPIRED, valid_until__gte=start, valid_until__lt=end)
    return _merged(
        day,
        CouponDay,
        (
            counted("issued", Q(issued_at__gte=start, issued_at__lt=end)),
            counted("redeemed", Q(redeemed_at__gte=start, redeemed_at__lt=end)),
            counted("expired", expired),
        ),
        ["benefit_id", "origin", "store_id", "channel", "tier_id"],
    )


def _active(day: datetime.date, end, entry: int | None) -> list[ActiveDay]:
    """Distinct members active in each window ending with the day (see ``ActiveDay``)."""
    rows: list[ActiveDay] = []
    for window in WINDOWS:
        start = day_bounds(day - datetime.timedelta(days=window - 1))[0]
        bought = Purchase.objects.filter(occurred_at__gte=start, occurred_at__lt=end).values("member_id")
        did = MemberEvent.objects.filter(occurred_at__gte=start, occurred_at__lt=end).values("member_id")
        exchanged = Redemption.objects.filter(created_at__gte=start, created_at__lt=end).values("member_id")
        cells = (
            Member.objects.filter(Q(pk__in=bought) | Q(pk__in=did) | Q(pk__in=exchanged))
            .values(
                store_id=F("registration_store"),
                channel=F("registration_channel"),
                tier_id=tier_at("pk", end, entry),
            )
            .annotate(active=Count("pk"), buyers=Count("pk", filter=Q(pk__in=bought)))
            .order_by()
        )
        rows.extend(ActiveDay(day=day, window=window, **row) for row in cells)
    return rows


def day_figures(day: datetime.date, *, actives: bool = True) -> DayFigures:
    """Every rollup row of ``day``, computed from the facts and not saved (without the
    active-member counts when not ``actives``: their windows read weeks of facts)."""
    start, end = day_bounds(day)
    entry = entry_tier_id()
    figures = DayFigures(day)
    figures.rows[SalesDay] = _sales(day, start, end, entry)
    figures.rows[MemberDay] = _members(day, start, end)
    figures.rows[TierMoveDay] = _tier_moves(day, start, end, entry)
    figures.rows[PointsDay] = _points(day, start, end, entry)
    figures.rows[RedemptionDay] = _redemptions(day, start, end, entry)
    figures.rows[CouponDay] = _coupons(day, start, end, entry)
    figures.rows[AwardDay] = _awards(day, start, end, entry)
    if timezone.localdate() - datetime.timedelta(days=1) <= day <= timezone.localdate():
        figures.rows[BalanceDay] = _balances(day, entry)
    if actives:
        figures.rows[ActiveDay] = _active(day, end, entry)
    return figures


def _awards(day: datetime.date, start, end, entry: int | None) -> list[AwardDay]:
    given = (
        AwardLine.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
        .values(
            "kind",
            "point_type_id",
            store_id=F("member__registration_store"),
            channel=F("member__registration_channel"),
            tier_id=tier_at("member_id", end, entry),
        )
        .annotate(amount=Sum("amount"), cny=Sum("cny"))
        .order_by()
    )
    return [AwardDay(day=day, **row) for row in given]


def _balances(day: datetime.date, entry: int | None) -> list[BalanceDay]:
    """Balances as they stand now: only the night after ``day`` (or today) can take them."""
    held = (
        Account.objects.filter(Q(available__gt=0) | Q(pending__gt=0) | Q(debt__gt=0))
        .values(
            "point_type_id",
            store_id=F("member__registration_store"),
            channel=F("member__registration_channel"),
            tier_id=Coalesce(F("member__tier_status__tier"), Value(entry), output_field=IntegerField()),
        )
        .annotate(available=Sum("available"), pending=Sum("pending"), owed=Sum("debt"), members=Count("pk"))
        .order_by()
    )
    return [BalanceDay(day=day, **row) for row in held]


def _cohorts(month: datetime.date, until: datetime.datetime) -> QuerySet:
    """Members who bought in ``month`` (up to ``until``), by the month they joined and their store."""
    start = day_bounds(month)[0]
    return (
        Purchase.objects.filter(occurred_at__gte=start, occurred_at__lt=until)
        .values(cohort=TruncMonth("member__created_at"), home_store=F("member__registration_store"))
        .annotate(buyers=Count("member_id", distinct=True))
        .order_by()
    )


def day_rollup(
    day: datetime.date, *, whole: bool = True, actives: bool | None = None, cohorts: bool | None = None
) -> dict[str, int]:
    """Replace ``day``'s rollup rows (and its month's cohort cells) with the facts' totals.

    ``actives`` and ``cohorts`` (default: ``whole``) say whether to count the active-member
    windows and the month's cohort cells too. Not ``whole`` (today, every few minutes): without
    them, as they read weeks of facts; the night's run of the finished day writes them."""
    began = time.monotonic()
    figures = day_figures(day, actives=whole if actives is None else actives)
    month = day.replace(day=1)
    with_cohorts = whole if cohorts is None else cohorts
    cells = (
        []
        if not with_cohorts
        else [
            CohortMonth(
                month=month, cohort=_as_date(row["cohort"]), store_id=row["home_store"], buyers=row["buyers"]
            )
            for row in _cohorts(month, day_bounds(day)[1])
        ]
    )
    written: dict[str, int] = {}
    with transaction.atomic():
        for model in (*DAY_TABLES, *SNAPSHOTS):
            if model not in figures.rows:
                continue  # not taken this time (actives of today, balances of a past day)
            model._default_manager.filter(day=day).delete()
            model._default_manager.bulk_create(figures.of(model), batch_size=2000)
            written[model._meta.model_name or ""] = len(figures.of(model))
        if with_cohorts:
            CohortMonth.objects.filter(month=month).delete()
            CohortMonth.objects.bulk_create(cells, batch_size=2000)
            written["cohortmonth"] = len(cells)
        RollupDay.objects.update_or_create(
            day=day,
            defaults={"rolled_up_at": timezone.now(), "seconds": round(time.monotonic() - began, 2)},
        )
    return written


def _as_date(value: datetime.date | datetime.datetime) -> datetime.date:
    return timezone.localtime(value).date() if isinstance(value, datetime.datetime) else value


#: Days before the last of a backfill whose active-member counts are all taken.
EVERY_DAY_ACTIVES = 92


def pages_ask_actives(day: datetime.date, last: datetime.date) -> bool:
    """Whether a page can ask for ``day``'s active-member counts: the last quarter day by day
    (daily charts, the presets), and before it the ends of weeks and months (the weekly and
    monthly charts' buckets). A backfill counts those only: each day's windows read up to 90 days
    of facts, and most old days would never be read."""
    if (last - day).days < EVERY_DAY_ACTIVES:
        return True
    return day.weekday() == 6 or (day + datetime.timedelta(days=1)).day == 1


def days_rollup(
    first: datetime.date, last: datetime.date, *, missing_only: bool = False, sparse: bool = False
) -> Iterator[tuple]:
    """Roll up every day from ``first`` to ``last``; yields (day, rows written) as it goes.
    ``sparse`` (a backfill): active-member counts only for the days pages ask for."""
    done = set(RollupDay.objects.filter(day__range=(first, last)).values_list("day", flat=True))
    day = first
    while day <= last:
        if not (missing_only and day in done):
            # a month's cohort cells read the month so far: counted once, on its last day rolled up
            month_ends = day == last or (day + datetime.timedelta(days=1)).day == 1
            actives = pages_ask_actives(day, last) if sparse else None
            yield day, day_rollup(day, actives=actives, cohorts=month_ends)
        day += datetime.timedelta(days=1)


#: Days the nightly job rolls up again: purchases of the last week still arrive in POS exports.
RECENT_DAYS = 7


def recent_days_rollup(*, days: int = RECENT_DAYS) -> int:
    """The nightly job: the last ``days`` days up to yesterday, then the members' snapshots."""
    from campaigns.insight.snapshots import behaviour_snapshot, profiles_snapshot

    last = yesterday()
    for _day in days_rollup(last - datetime.timedelta(days=days - 1), last):
        pass
    profiles_snapshot()
    behaviour_snapshot()
    return days


def today_rollup() -> int:
    """Every few minutes: today so far, so the pages read today's figures from the tables too."""
    return sum(day_rollup(timezone.localdate(), whole=False).values())


def yesterday() -> datetime.date:
    return timezone.localdate() - datetime.timedelta(days=1)
