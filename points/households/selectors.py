"""Reads of households: a member's household, what a spender drew this month, the summary the
member's app shows."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Q, Sum
from django.utils import timezone

from members.models import Member
from points.households.models import HouseholdMembership, PoolDraw
from points.models import Lot


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


@dataclass(frozen=True)
class HouseholdSummary:
    """What the member's app shows: their household and what its pool lets them spend now."""

    name: str
    role: str
    pool_spenders: str
    monthly_cap: int
    on_leave: str
    may_spend_pool: bool
    pool_available: int  # the other members' spendable 积分 (0 when the member may not spend it)
    drawn_this_month: int
    cap_left: int | None  # None: no cap


def household_summary(member: Member, at: datetime.datetime | None = None) -> HouseholdSummary | None:
    """The member's household as the member may know it: the rules and totals, never the other
    members (they may be served by partners this caller cannot see)."""
    at = at or timezone.now()
    membership = membership_of(member)
    if membership is None:
        return None
    household = membership.household
    may = household.may_spend_pool(membership)
    pool = 0
    if may:
        others = household.memberships.filter(
            left_at__isnull=True, member__status=Member.Status.ACTIVE, member__merged_into__isnull=True
        ).exclude(pk=membership.pk)
        pool = (
            Lot.objects.filter(
                account__member__in=others.values("member"),
                account__point_type__code="points",
                status=Lot.Status.AVAILABLE,
                remaining__gt=0,
            )
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at))
            .aggregate(total=Sum("remaining"))["total"]
            or 0
        )
    drawn = pool_drawn_in_month(member.pk, at)
    return HouseholdSummary(
        name=household.name,
        role=membership.role,
        pool_spenders=household.pool_spenders,
        monthly_cap=household.monthly_cap,
        on_leave=household.on_leave,
        may_spend_pool=may,
        pool_available=pool,
        drawn_this_month=drawn,
        cap_left=max(household.monthly_cap - drawn, 0) if household.monthly_cap else None,
    )
