"""Money of a paid period: how its price is earned day by day, and what ending it early gives back.

A period's price is **deferred revenue** (预收会员费) when paid and is recognised straight-line
over the local days it paid for: day ``k`` of ``N`` (from the start's local date, up to the paid
end's local date, exclusive) brings the recognised total to ``price × k / N``, rounded to the fen
half up. Rounding the running total (never each day's share) makes the days, and so the months,
add up to the price exactly: the last day takes whatever the rounding left.

Ending a period early (``tiers.subscriptions.subscription_cancel`` with ``immediately``) refunds,
by the terms the period was sold with (``Subscription.refund_policy``):

- ``none``: nothing;
- ``days``: what is still deferred at the start of the cancellation's local day — the days
  before it are used, that day and the rest are given back: ``price − round(price × used / N)``;
- ``months``: the whole months not yet started, ``round(price × unused months / months)``, but
  never more than is still deferred (by days): a short month left (February) is worth less than
  the average, and a refund above what is deferred would take back revenue already recognised.

then less the cancellation fee, never below zero. On the cancellation's day the period's
recognised total becomes ``price − refund``: the fee, and for ``none`` the rest of the period,
are revenue then. So for every payment, at any date: price = recognised + refunded + deferred.
"""

from __future__ import annotations

import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

from django.utils import timezone

from points.policy import add_months
from tiers.models import RefundPolicy, Subscription

FEN = Decimal("0.01")


def fen(amount: Decimal) -> Decimal:
    """Rounded to the fen, half up (0.005 → 0.01)."""
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


class Period(Protocol):
    """What the arithmetic reads of a subscription (a model row or the report's plain values)."""

    price: Decimal
    starts_at: datetime.datetime
    paid_until: datetime.datetime


def local_day(moment: datetime.datetime) -> datetime.date:
    return timezone.localtime(moment).date()


def period_days(period: Period) -> int:
    """The local days the payment paid for (365 for a year from 10:00 on 1 February)."""
    return max(1, (local_day(period.paid_until) - local_day(period.starts_at)).days)


def recognised_before(period: Period, day: datetime.date) -> Decimal:
    """Of the price, what the straight line has recognised on the days before ``day``."""
    days = period_days(period)
    used = min(max((day - local_day(period.starts_at)).days, 0), days)
    return fen(period.price * used / days)


def months_of(period: Period) -> int:
    start, end = timezone.localtime(period.starts_at), timezone.localtime(period.paid_until)
    return max(1, (end.year - start.year) * 12 + end.month - start.month)


def months_started(period: Period, at: datetime.datetime) -> int:
    """Months of the period begun by ``at`` (the month running counts as used)."""
    total = months_of(period)
    return sum(1 for k in range(total) if add_months(period.starts_at, k) <= at)


def refund_before_fee(period: Period, policy: str, at: datetime.datetime) -> Decimal:
    """What ending ``period`` at ``at`` gives back under ``policy``, before any fee."""
    if policy == RefundPolicy.NONE:
        return Decimal("0.00")
    deferred = period.price - recognised_before(period, local_day(at))
    if policy == RefundPolicy.DAYS:
        return deferred
    total = months_of(period)
    unused = total - months_started(period, at)
    return min(fen(period.price * unused / total), deferred)


def refunds_for(periods: list[Subscription], at: datetime.datetime) -> list[Decimal]:
    """The refund of each period of a chain ended together at ``at``, in order: the fee (the first
    period's terms) is kept once, from the first period's refund and then the next ones'."""
    fee = periods[0].cancellation_fee if periods else Decimal(0)
    out = []
    for period in periods:
        gross = refund_before_fee(period, period.refund_policy, at)
        kept = min(fee, gross)
        fee -= kept
        out.append(gross - kept)
    return out


def recognised_by(period: Subscription, day: datetime.date) -> Decimal:
    """What the period has recognised on the days before ``day``, an early end included: from
    its cancellation's day on, everything but the refund."""
    ended = period.cancelled_at if period.status == Subscription.Status.CANCELLED else None
    if ended is not None and day > local_day(ended):
        return period.price - (period.refund_amount or Decimal(0))
    return recognised_before(period, day)
