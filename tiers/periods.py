"""Qualification periods: when a member's earned tier is next reviewed, per the policy's window.

Every window is twelve months long; they differ in where the period boundary falls:

- calendar year: 1 January, local time (the programme's ``TIME_ZONE``);
- membership year: the registration anniversary (29 February falls on 28 February);
- rolling: twelve months after the tier was reached or last confirmed.

A period is ``[period_start, valid_until)``. At ``valid_until + grace`` the earned tier is
reviewed on what the member earned in ``[period_start, valid_until + grace)``, and the next
period is ``[valid_until, valid_until + 12 months)``.
"""

from __future__ import annotations

import datetime

from django.utils import timezone

from members.models import Member
from points.policy import add_months
from tiers.models import TierPolicy

PERIOD_MONTHS = 12


def _local_midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime(day.year, day.month, day.day))


def current_period(
    policy: TierPolicy, member: Member, at: datetime.datetime
) -> tuple[datetime.datetime, datetime.datetime]:
    """The period containing ``at`` for a member who reaches or holds a tier at ``at``."""
    if policy.window == TierPolicy.Window.CALENDAR:
        year = timezone.localtime(at).year
        return _local_midnight(datetime.date(year, 1, 1)), _local_midnight(datetime.date(year + 1, 1, 1))
    if policy.window == TierPolicy.Window.ANNIVERSARY:
        joined = member.created_at
        years = timezone.localtime(at).year - timezone.localtime(joined).year
        if anniversary(joined, years) > at:
            years -= 1
        return anniversary(joined, years), anniversary(joined, years + 1)
    return at, add_months(at, PERIOD_MONTHS)


def anniversary(joined: datetime.datetime, years: int) -> datetime.datetime:
    """Local midnight starting the day ``years`` after registration (counted from registration,
    so a 29 February member is reviewed on 28 February and again on 29 February in leap years)."""
    day = _local_midnight(timezone.localtime(joined).date())
    return add_months(day, PERIOD_MONTHS * years)


def next_period(
    policy: TierPolicy, valid_until: datetime.datetime, joined: datetime.datetime | None
) -> datetime.datetime:
    """End of the period that follows one ending at ``valid_until`` (``joined``: registration,
    needed for membership years only)."""
    if policy.window == TierPolicy.Window.ANNIVERSARY:
        assert joined is not None
        years = timezone.localtime(valid_until).year - timezone.localtime(joined).year
        return anniversary(joined, years + 1)
    return add_months(valid_until, PERIOD_MONTHS)


def upgrade_window_start(policy: TierPolicy, period_start: datetime.datetime, at: datetime.datetime):
    """Where the growth that can lift a member *now* starts counting."""
    if policy.window == TierPolicy.Window.ROLLING:
        return add_months(at, -PERIOD_MONTHS)
    return period_start


def grace(policy: TierPolicy) -> datetime.timedelta:
    return datetime.timedelta(days=policy.grace_days)
