"""When earned points become available and when they expire, per point type."""

from __future__ import annotations

import calendar
import datetime

from django.utils import timezone

from points.models import PointType


def add_months(moment: datetime.datetime, months: int) -> datetime.datetime:
    """Same day N months later, clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def expires_at(point_type: PointType, earned_at: datetime.datetime) -> datetime.datetime | None:
    """The first instant the points are no longer valid (None: never expire).

    Calendar clear-out: earned in year Y -> valid through 31 Dec of Y+N in the programme's time
    zone, i.e. expired from 1 Jan Y+N+1 00:00 local time.
    """
    if point_type.expiry_policy == PointType.Expiry.ROLLING:
        return add_months(earned_at, point_type.expiry_period)
    if point_type.expiry_policy == PointType.Expiry.CALENDAR:
        local = timezone.localtime(earned_at)
        year = local.year + point_type.expiry_period + 1
        return datetime.datetime(year, 1, 1, tzinfo=local.tzinfo)
    return None


def available_at(point_type: PointType, earned_at: datetime.datetime) -> datetime.datetime:
    return earned_at + datetime.timedelta(days=point_type.pending_days)


def last_valid_day(expires: datetime.datetime) -> datetime.date:
    """The day members are told: expired from 1 Jan 2028 00:00 means valid through 31 Dec 2027."""
    return timezone.localtime(expires - datetime.timedelta(microseconds=1)).date()
