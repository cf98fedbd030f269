"""Reads of the ledger: balances, history, expiring points, liability, and the invariant check."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import F, Min, QuerySet, Sum
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from members.models import Member
from points.models import Account, Entry, Lot, PointType
from points.policy import last_valid_day


def member_balances(member: Member) -> QuerySet[Account]:
    return Account.objects.filter(member=member).select_related("point_type").order_by("point_type_id")


def account_history(account: Account, *, limit: int = 50, before_id: int | None = None) -> list[Entry]:
    """Newest first, keyset-paginated (``before_id``): as fast on entry 10,000,000 as on entry 10."""
    entries = Entry.objects.filter(account=account).select_related("actor")
    if before_id is not None:
        entries = entries.filter(id__lt=before_id)
    return list(entries.order_by("-id")[:limit])


def expiring_lots(*, within_days: int, now: datetime.datetime | None = None) -> QuerySet[Lot]:
    """Lots with points left that expire in the next ``within_days`` days (pending ones too: they
    expire on the same clock)."""
    now = now or timezone.now()
    return Lot.objects.filter(
        remaining__gt=0, expires_at__gt=now, expires_at__lte=now + datetime.timedelta(days=within_days)
    )


def points_expiring(
    *, point_type: PointType, within_days: int, now: datetime.datetime | None = None
) -> QuerySet[Lot, dict[str, Any]]:
    """Per member, points that expire in the next ``within_days`` days (for reminders).

    Rows: ``{"account__member_id", "points", "first_expiry"}``, largest first.
    """
    return (
        expiring_lots(within_days=within_days, now=now)
        .filter(account__point_type=point_type)
        .values("account__member_id")
        .annotate(points=Sum("remaining"), first_expiry=Min("expires_at"))
        .order_by("-points")
    )


@dataclass(frozen=True)
class NextExpiry:
    """The member's points that expire first: all of those whose last valid day is the soonest."""

    points: int
    expires_at: datetime.datetime  # the first instant the earliest of them is no longer valid

    @property
    def last_day(self) -> datetime.date:
        return last_valid_day(self.expires_at)


@dataclass(frozen=True)
class Balance:
    point_type: PointType
    available: int
    pending: int
    earned: int
    spent: int
    expired: int
    next_expiry: NextExpiry | None


def next_expiries(account_ids: list[int], *, now: datetime.datetime | None = None) -> dict[int, NextExpiry]:
    """Per account, the open points that expire on the soonest last valid day. One query adds up
    each account's open lots per last valid day (local): a few days per account, however many
    lots share one (a year's lots all end at the calendar clear-out); the soonest is kept here."""
    now = now or timezone.now()
    tick = datetime.timedelta(microseconds=1)  # expired from 00:00 = valid through the day before
    by_day = (
        Lot.objects.filter(account_id__any=account_ids, remaining__gt=0, expires_at__gt=now)
        .annotate(day=TruncDate(F("expires_at") - tick, tzinfo=timezone.get_current_timezone()))
        .values("account_id", "day")
        .annotate(first=Min("expires_at"), points=Sum("remaining"))
        .order_by()
        .values_list("account_id", "day", "first", "points")
    )
    soonest: dict[int, tuple[datetime.date, NextExpiry]] = {}
    for account_id, day, first, points in by_day:
        if account_id not in soonest or day < soonest[account_id][0]:
            soonest[account_id] = (day, NextExpiry(points, first))
    return {account_id: expiry for account_id, (_day, expiry) in soonest.items()}


def member_balance_sheet(member: Member, *, now: datetime.datetime | None = None) -> list[Balance]:
    """Every point type with the member's figures (zeros before their first entry of that type)
    and the next expiry. Four queries, whatever the number of types or lots."""
    accounts = {account.point_type_id: account for account in member_balances(member)}
    expiries = next_expiries([account.pk for account in accounts.values()], now=now)
    sheet = []
    for point_type in PointType.objects.order_by("id"):
        account = accounts.get(point_type.pk) or Account(point_type=point_type)
        sheet.append(
            Balance(
                point_type=point_type,
                available=account.available,
                pending=account.pending,
                earned=account.earned,
                spent=account.spent,
                expired=account.expired,
                next_expiry=expiries.get(account.pk),
            )
        )
    return sheet


def member_entries(member: Member) -> QuerySet[Entry]:
    """All of one member's ledger entries (every point type), with their point type."""
    return Entry.objects.filter(account__member=member).select_related("account__point_type")


@dataclass(frozen=True)
class LiabilityRow:
    point_type: PointType
    expiry_month: datetime.date | None  # None: never expires
    points: int
    value: Decimal


@dataclass(frozen=True)
class Liability:
    rows: list[LiabilityRow]
    outstanding_points: dict[str, int]
    outstanding_value: dict[str, Decimal]
    breakage_rate: dict[str, Decimal]
    expected_cost: dict[str, Decimal]


def points_liability(*, now: datetime.datetime | None = None) -> Liability:
    """What the brand owes: open points x value per point, by expiry month, and a breakage estimate.

    Outstanding is what members hold (available + pending, less what they owe). Breakage is
    estimated from history: of the points that have left accounts by spending or expiring,
    the share that expired. Expected cost = outstanding value x (1 - breakage rate).
    """
    now = now or timezone.now()
    rows: list[LiabilityRow] = []
    outstanding_points: dict[str, int] = {}
    outstanding_value: dict[str, Decimal] = {}
    breakage: dict[str, Decimal] = {}
    expected: dict[str, Decimal] = {}
    for point_type in PointType.objects.order_by("id"):
        by_month = (
            Lot.objects.filter(account__point_type=point_type, remaining__gt=0)
            .annotate(month=TruncMonth("expires_at"))
            .values("month")
            .annotate(points=Sum("remaining"))
            .order_by("month")
        )
        for row in by_month:
            month = row["month"].date() if isinstance(row["month"], datetime.datetime) else row["month"]
            rows.append(LiabilityRow(point_type, month, row["points"], row["points"] * point_type.cny_value))
        totals = Account.objects.filter(point_type=point_type).aggregate(
            available=Sum("available"), pending=Sum("pending"), spent=Sum("spent"), expired=Sum("expired")
        )
        held = (totals["available"] or 0) + (totals["pending"] or 0)
        left = (totals["spent"] or 0) + (totals["expired"] or 0)
        rate = Decimal(totals["expired"] or 0) / left if left else Decimal(0)
        code = point_type.code
        outstanding_points[code] = held
        outstanding_value[code] = held * point_type.cny_value
        breakage[code] = rate.quantize(Decimal("0.0001"))
        expected[code] = (outstanding_value[code] * (1 - rate)).quantize(Decimal("0.01"))
    return Liability(rows, outstanding_points, outstanding_value, breakage, expected)


# --- invariants ---------------------------------------------------------------------------

CHECKS = {
    "balance_vs_entries": "available + pending <> sum of entries",
    "pending_vs_lots": "pending <> sum of pending lots' remainders",
    "available_vs_lots": "available <> sum of available lots' remainders - debt",
    "lot_out_of_range": "a lot's remaining is below zero or above its amount",
    "negative_not_flagged": "negative available balance not flagged for review",
    "debt_with_open_lots": "debt while lots still hold points",
    "lifetime_counters": "earned/spent/expired differ from their entries (and an old system's totals)",
    "last_balance_after": "the last entry's balance_after differs from the balance",
    "lot_untraced": "a lot's consumed points differ from its allocations",
}

_RECONCILE_SQL = """
WITH e AS (
    SELECT account_id, SUM(amount) AS total,
           SUM(CASE WHEN kind = 'earn' THEN amount ELSE 0 END) AS earned,
           -SUM(CASE WHEN kind = 'spend' THEN amount ELSE 0 END) AS spent,
           -SUM(CASE WHEN kind = 'expire' THEN amount ELSE 0 END) AS expired,
           MAX(id) AS last_id
    FROM points_entry GROUP BY account_id
), alloc AS (
    SELECT lot_id, SUM(amount) AS used FROM points_lotallocation GROUP BY lot_id
), l AS (
    SELECT lot.account_id,
           SUM(CASE WHEN lot.status = 'pending' THEN lot.remaining ELSE 0 END) AS pending,
           SUM(CASE WHEN lot.status = 'available' THEN lot.remaining ELSE 0 END) AS available,
           SUM(CASE WHEN lot.remaining < 0 OR lot.remaining > lot.amount THEN 1 ELSE 0 END) AS bad,
           SUM(CASE WHEN lot.remaining > 0 THEN 1 ELSE 0 END) AS open_lots,
           SUM(CASE WHEN lot.amount - lot.remaining <> COALESCE(alloc.used, 0) THEN 1 ELSE 0 END) AS untraced
    FROM points_lot lot LEFT JOIN alloc ON alloc.lot_id = lot.id
    GROUP BY lot.account_id
)
SELECT a.id,
       a.available + a.pending <> COALESCE(e.total, 0),
       a.pending <> COALESCE(l.pending, 0),
       a.available <> COALESCE(l.available, 0) - a.debt,
       COALESCE(l.bad, 0) > 0,
       a.available < 0 AND a.flagged_at IS NULL,
       a.debt > 0 AND COALESCE(l.open_lots, 0) > 0,
       a.earned <> COALESCE(e.earned, 0) + COALESCE(c.earned, 0)
           OR a.spent <> COALESCE(e.spent, 0) + COALESCE(c.spent, 0)
           OR a.expired <> COALESCE(e.expired, 0) + COALESCE(c.expired, 0),
       COALESCE(le.balance_after, 0) <> a.available + a.pending,
       COALESCE(l.untraced, 0) > 0
FROM points_account a
LEFT JOIN e ON e.account_id = a.id
LEFT JOIN l ON l.account_id = a.id
LEFT JOIN points_carriedtotals c ON c.account_id = a.id
LEFT JOIN points_entry le ON le.id = e.last_id
"""


def ledger_problems() -> dict[int, list[str]]:
    """{account id: [failed check codes]} for every account breaking an invariant (empty: all good).

    One SQL statement over the whole ledger, so it runs the same on a million accounts as on ten.
    """
    problems: dict[int, list[str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_RECONCILE_SQL)
        for account_id, *flags in cursor.fetchall():
            failed = [code for code, bad in zip(CHECKS, flags, strict=True) if bad]
            if failed:
                problems[account_id] = failed
    return problems
