"""Reads of households: a member's household, what a spender drew this month."""

from __future__ import annotations

import datetime

from django.db.models import Sum
from django.utils import timezone

from members.models import Member
from points.households.models import HouseholdMembership, PoolDraw


def membership_of(member: Member | int) -> HouseholdMembership | None:
    """The member's current membership (with its household), or None."""
    member_id = member if isinstance(member, int) else member.pk
    return (
        HouseholdMembership.objects.filter(member_id=member_id, left_at__isnull=True)
        .select_related("household", "household__head")
        .first()
    )


def month_bounds(at: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime]:
    """The calendar month containing ``at`` in the programme's time zone (settings.TIME_ZONE)."""
    local = timezone.localtime(at)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (start + datetime.timedelta(days=32)).replace(day=1)
    # re-localised: a month may start and end at different UTC offsets where clocks change
    tz = timezone.get_current_timezone()
    return (
        timezone.make_aware(start.replace(tzinfo=None), tz),
        timezone.make_aware(following.replace(tzinfo=None), tz),
    )


def pool_drawn_in_month(spender_id: int, at: datetime.datetime) -> int:
    """Points the member drew from others in the month of ``at``; draws refunded since don't count."""
    start, end = month_bounds(at)
    drawn = PoolDraw.objects.filter(
        spender_id=spender_id, created_at__gte=start, created_at__lt=end, returned_at__isnull=True
    ).aggregate(total=Sum("points"))["total"]
    return drawn or 0
