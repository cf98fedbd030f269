"""What a member already used of the caps the engine checks: a campaign's times, points and
points today, and a behaviour rule's count in its period (day, week, month, year)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Q, Sum
from django.utils import timezone

from campaigns.earning import engine
from campaigns.models import AwardLine, BehaviourRule, Campaign
from members.purchases.models import MemberEvent

if TYPE_CHECKING:
    from campaigns.selectors import RuleBook


def day_bounds(at: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime]:
    start = timezone.localtime(at).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + datetime.timedelta(days=1)


def usage_of(
    member_id: int, campaigns: dict[int, Campaign], ids: Iterable[int], at: datetime.datetime
) -> dict[int, engine.Usage]:
    """What each campaign already gave this member (all time and on ``at``'s day) and has left."""
    ids = list(ids)
    if not ids:
        return {}
    start, end = day_bounds(at)
    given: dict[int, Mapping[str, Any]] = {
        row["campaign_id"]: row
        for row in AwardLine.objects.filter(campaign_id__in=ids, member_id=member_id)
        .values("campaign_id")
        .annotate(
            points=Sum("amount", filter=Q(point_type__code=engine.POINTS)),
            today=Sum(
                "amount",
                filter=Q(point_type__code=engine.POINTS, occurred_at__gte=start, occurred_at__lt=end),
            ),
            times=Count("award", distinct=True, filter=Q(amount__gt=0) | Q(coupon__isnull=False)),
        )
        .order_by()
    }
    result = {}
    for pk in ids:
        campaign, row = campaigns[pk], given.get(pk, {})
        times = row.get("times") or 0
        if campaign.member_times_period and times:  # the times in the fact's month or year only
            since = period_start(campaign.member_times_period, at)
            assert since is not None  # month or year
            times = (
                AwardLine.objects.filter(
                    campaign_id=pk,
                    member_id=member_id,
                    occurred_at__gte=since,
                    occurred_at__lt=period_end(campaign.member_times_period, since),
                )
                .filter(Q(amount__gt=0) | Q(coupon__isnull=False))
                .values("award")
                .distinct()
                .count()
            )
        result[pk] = engine.Usage(
            times=times,
            points=row.get("points") or 0,
            points_today=row.get("today") or 0,
            budget_points_left=None
            if campaign.budget_points is None
            else campaign.budget_points - campaign.spent_points,
            budget_cny_left=None if campaign.budget_cny is None else campaign.budget_cny - campaign.spent_cny,
        )
    return result


def behaviour_rates(book: RuleBook, event: MemberEvent) -> list[engine.BehaviourRate]:
    """The event type's rules with how often each was already given in its current period."""
    rates = []
    for rule in book.behaviour_rules.get(event.event_type_id, []):
        used = 0
        if rule.cap is not None:
            given = AwardLine.objects.filter(
                member_id=event.member_id,
                kind=AwardLine.Kind.BEHAVIOUR,
                point_type=rule.point_type,
                amount__gt=0,
                award__event__event_type_id=event.event_type_id,
            )
            since = period_start(rule.cap_period, event.occurred_at)
            if since is not None:
                given = given.filter(
                    occurred_at__gte=since, occurred_at__lt=period_end(rule.cap_period, since)
                )
            used = given.count()
        rates.append(
            engine.BehaviourRate(
                point_type=rule.point_type.code,
                amount=rule.amount,
                event_name=rule.event_type.name,
                cap=rule.cap,
                period=rule.cap_period,
                used=used,
            )
        )
    return rates


def period_start(period: str, at: datetime.datetime) -> datetime.datetime | None:
    day = day_bounds(at)[0]
    if period == BehaviourRule.Period.DAY:
        return day
    if period == BehaviourRule.Period.WEEK:
        return day - datetime.timedelta(days=day.weekday())
    if period == BehaviourRule.Period.MONTH:
        return day.replace(day=1)
    if period == BehaviourRule.Period.YEAR:
        return day.replace(month=1, day=1)
    return None  # ever


def period_end(period: str, start: datetime.datetime) -> datetime.datetime:
    if period == BehaviourRule.Period.DAY:
        return start + datetime.timedelta(days=1)
    if period == BehaviourRule.Period.WEEK:
        return start + datetime.timedelta(days=7)
    if period == BehaviourRule.Period.MONTH:
        return (start + datetime.timedelta(days=32)).replace(day=1)
    return start.replace(year=start.year + 1)
