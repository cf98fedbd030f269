"""Membership fees as deferred revenue (预收会员费): the monthly schedule finance reads, per plan.

Each month: opening deferred + payments received − revenue recognised − refunds = closing
deferred, per plan and for all plans. A payment is received on its ``paid_at`` day, recognised
day by day over the period it paid for and refunded on its cancellation's day, all by local
dates and to the fen (``tiers.refunds``: the running total is rounded, so a period's months add
up to its price exactly). The reconciliation beside it holds for every plan: payments recorded
to the last month's end = recognised + refunded + closing deferred.

One pass over the periods still deferred at the first month's start (their end not before it);
the older ones are fully recognised or refunded and are summed by the database for the totals.
"""

from __future__ import annotations

import datetime
import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, DecimalField, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from tiers.models import Plan, Subscription
from tiers.refunds import local_day, recognised_by

ZERO = Decimal("0.00")
#: The longest schedule a page shows (and downloads): five years of months.
MAX_MONTHS = 60


@dataclass
class Movements:
    opening: Decimal = ZERO
    received: Decimal = ZERO
    recognised: Decimal = ZERO
    refunded: Decimal = ZERO

    @property
    def closing(self) -> Decimal:
        return self.opening + self.received - self.recognised - self.refunded


@dataclass
class ToDate:
    """Everything recorded up to the schedule's end, per plan: the reconciliation."""

    paid: Decimal = ZERO
    recognised: Decimal = ZERO
    refunded: Decimal = ZERO
    deferred: Decimal = ZERO
    periods: int = 0

    @property
    def difference(self) -> Decimal:
        """Zero when the books hold: payments = recognised + refunded + deferred."""
        return self.paid - self.recognised - self.refunded - self.deferred


@dataclass
class Schedule:
    months: list[datetime.date]
    plans: dict[int, str]  # plan id -> name, in the plans' order
    cells: dict[tuple[datetime.date, int], Movements] = field(default_factory=dict)
    to_date: dict[int, ToDate] = field(default_factory=dict)

    def month(self, month: datetime.date, plan_id: int | None = None) -> Movements:
        """One plan's month, or all plans' (``None``)."""
        if plan_id is not None:
            return self.cells.get((month, plan_id)) or Movements()
        total = Movements()
        for plan in self.plans:
            cell = self.month(month, plan)
            total.opening += cell.opening
            total.received += cell.received
            total.recognised += cell.recognised
            total.refunded += cell.refunded
        return total

    def total_to_date(self) -> ToDate:
        total = ToDate()
        for row in self.to_date.values():
            total.paid += row.paid
            total.recognised += row.recognised
            total.refunded += row.refunded
            total.deferred += row.deferred
            total.periods += row.periods
        return total


def month_start(month: datetime.date) -> datetime.datetime:
    """The first moment of a local month (as an aware datetime)."""
    return timezone.make_aware(datetime.datetime.combine(month.replace(day=1), datetime.time()))


def next_month(month: datetime.date) -> datetime.date:
    return (month.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)


def months_between(first: datetime.date, last: datetime.date) -> list[datetime.date]:
    first, last = first.replace(day=1), last.replace(day=1)
    months: list[datetime.date] = []
    while first <= last and len(months) < MAX_MONTHS:
        months.append(first)
        first = next_month(first)
    return months


def revenue_schedule(first: datetime.date, last: datetime.date) -> Schedule:
    """The months from ``first``'s to ``last``'s (at most ``MAX_MONTHS``), every plan that had
    a payment by the end."""
    months = months_between(first, last)
    bounds = [*months, next_month(months[-1])]
    start, end = month_start(bounds[0]), month_start(bounds[-1])
    paid = Subscription.objects.filter(paid_at__lt=end)
    schedule = Schedule(
        months, dict(Plan.objects.filter(subscriptions__in=paid).distinct().values_list("pk", "name"))
    )
    schedule.plans = {pk: schedule.plans[pk] for pk in sorted(schedule.plans, key=_plan_order())}
    to_date: dict[int, ToDate] = defaultdict(ToDate)
    # Periods over before the first month: recognised but for their refund, all of it before.
    money: DecimalField = DecimalField(max_digits=14, decimal_places=2)
    over = (
        paid.filter(ends_at__lt=start)
        .values("plan_id")
        .annotate(
            paid=Sum("price"),
            refunded=Coalesce(Sum("refund_amount"), Value(ZERO), output_field=money),
            periods=Count("pk"),
        )
        .order_by()
    )
    for row in over:
        line = to_date[row["plan_id"]]
        line.paid += row["paid"]
        line.refunded += row["refunded"]
        line.recognised += row["paid"] - row["refunded"]
        line.periods += row["periods"]
    for period in paid.filter(ends_at__gte=start).order_by("pk").iterator(chunk_size=2000):
        _add_period(schedule, to_date[period.plan_id], period, bounds)
    for plan_id in schedule.plans:  # each month opens with the previous month's closing
        for earlier, later in itertools.pairwise(months):
            if (later, plan_id) in schedule.cells:
                schedule.cells[(later, plan_id)].opening = schedule.month(earlier, plan_id).closing
    for plan_id, line in to_date.items():
        line.deferred = schedule.month(months[-1], plan_id).closing
    schedule.to_date = {pk: to_date[pk] for pk in schedule.plans if pk in to_date}
    return schedule


def _plan_order():
    order = {pk: n for n, pk in enumerate(Plan.objects.order_by("price", "id").values_list("pk", flat=True))}
    return lambda pk: order.get(pk, len(order))


def _add_period(schedule: Schedule, line: ToDate, period: Subscription, bounds: list[datetime.date]) -> None:
    recognised = [recognised_by(period, day) for day in bounds]
    cancelled = period.status == Subscription.Status.CANCELLED and period.cancelled_at is not None
    refund = (period.refund_amount or ZERO) if cancelled else ZERO
    refund_day = local_day(period.cancelled_at) if cancelled and period.cancelled_at else None
    paid_day = local_day(period.paid_at)

    def refunded_before(day: datetime.date) -> Decimal:
        return refund if refund_day is not None and refund_day < day else ZERO

    def paid_before(day: datetime.date) -> Decimal:
        return period.price if paid_day < day else ZERO

    for index, month in enumerate(schedule.months):
        cell = schedule.cells.setdefault((month, period.plan_id), Movements())
        if index == 0:
            cell.opening += paid_before(month) - recognised[0] - refunded_before(month)
        after = bounds[index + 1]
        cell.received += paid_before(after) - paid_before(month)
        cell.recognised += recognised[index + 1] - recognised[index]
        cell.refunded += refunded_before(after) - refunded_before(month)
    line.paid += paid_before(bounds[-1])
    line.recognised += recognised[-1]
    line.refunded += refunded_before(bounds[-1])
    line.periods += 1


def all_plans_label() -> str:
    return _("All plans")
