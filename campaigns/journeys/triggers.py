"""Who a journey's trigger lets in now: ``arrivals`` is read both by the admin's preview count and
by the job that lets them in, so the count an operator sees is the members the journey reaches.

Each arrival names its occurrence (the date or fact it is about: a lot's last valid day, the
birthday's year, a coupon, a tier change): a member enters a journey once per occurrence, so a
rerun of the job, or two runs at once, let no one in twice (a unique constraint).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import F, Min, Q
from django.utils import timezone

from benefits.models import Coupon
from campaigns.journeys.models import Journey, JourneyEntry, Trigger
from campaigns.segments.selectors import segment_members
from members.models import Member
from points.models import Lot
from points.policy import last_valid_day
from tiers import periods
from tiers.models import MemberTier, TierChange, TierPolicy
from tiers.selectors import ladder, review_value

from .context import POINTS

CHUNK = 10_000


@dataclass(frozen=True)
class Arrival:
    member_id: int
    occurrence: str
    coupon_id: int | None = None


def _day(moment: datetime.datetime) -> str:
    return f"{last_valid_day(moment):%Y-%m-%d}"


def _in_segment(journey: Journey, member: str, now: datetime.datetime) -> Q:
    """A segment set on a trigger other than the segment's limits it in SQL (``member``: the
    path to the member): the trigger's rows for the segment's members only, not the programme's
    (the clear-out would otherwise read every member's lots)."""
    if journey.segment is None or journey.trigger == Trigger.SEGMENT:
        return Q()
    return Q(**{f"{member}__in": segment_members(journey.segment, now=now).values("pk")})


def _candidates(journey: Journey, now: datetime.datetime) -> Iterator[Arrival]:
    days = datetime.timedelta(days=journey.days or 0)
    active = Member.Status.ACTIVE

    def within(member: str) -> Q:
        return _in_segment(journey, member, now)

    if journey.trigger == Trigger.SEGMENT:
        assert journey.segment is not None
        occurrence = "" if journey.reentry_days is None else f"{timezone.localdate(now):%Y-%m-%d}"
        for member_id in (
            segment_members(journey.segment, now=now).values_list("pk", flat=True).iterator(CHUNK)
        ):
            yield Arrival(member_id, occurrence)
    elif journey.trigger == Trigger.ENROLMENT:
        enrolled = Member.objects.filter(
            within("pk"), created_at__gte=journey.starts_at, created_at__lte=now, status=active
        )
        for member_id in enrolled.values_list("pk", flat=True).iterator(CHUNK):
            yield Arrival(member_id, "")
    elif journey.trigger == Trigger.TIER_UPGRADE:
        changes = TierChange.objects.filter(
            within("member"),
            reason=TierChange.Reason.UPGRADE,
            at__gte=journey.starts_at,
            at__lte=now,
            member__status=active,
        )
        for pk, member_id in changes.values_list("pk", "member_id").iterator(CHUNK):
            yield Arrival(member_id, f"upgrade:{pk}")
    elif journey.trigger == Trigger.POINTS_EXPIRING:
        # the soonest of the member's lots in the window names the occurrence: one reminder per
        # expiry date, however many lots share it (the calendar clear-out 积分清零 is one date)
        soonest = (
            Lot.objects.filter(
                within("account__member"),
                account__point_type__code=POINTS,
                account__member__status=active,
                remaining__gt=0,
                expires_at__gt=now,
                expires_at__lte=now + days,
            )
            .values("account__member_id")
            .annotate(first=Min("expires_at"))
            .order_by()
            .values_list("account__member_id", "first")
        )
        days_of: dict[datetime.datetime, str] = {}  # a few instants, shared by many (the clear-out)
        for member_id, first in soonest.iterator(CHUNK):
            if first not in days_of:
                days_of[first] = _day(first)
            yield Arrival(member_id, days_of[first])
    elif journey.trigger == Trigger.BIRTHDAY:
        yield from _birthdays(journey, within("pk"), now)
    elif journey.trigger == Trigger.TIER_REVIEW:
        yield from _reviews(journey, within("member"), now)
    elif journey.trigger == Trigger.COUPON_EXPIRING:
        coupons = Coupon.objects.filter(
            within("member"),
            status=Coupon.Status.ISSUED,
            valid_until__gt=now,
            valid_until__lte=now + days,
            member__status=active,
        )
        for pk, member_id in coupons.values_list("pk", "member_id").iterator(CHUNK):
            yield Arrival(member_id, f"coupon:{pk}", pk)


def _birthdays(journey: Journey, within: Q, now: datetime.datetime) -> Iterator[Arrival]:
    """Birthdays from today to ``days`` ahead; 29 February is kept on the 28th in other years."""
    today = timezone.localdate(now)
    dates = [today + datetime.timedelta(days=n) for n in range((journey.days or 0) + 1)]
    match = Q()
    for day in dates:
        match |= Q(birthday__month=day.month, birthday__day=day.day)
        if (day.month, day.day) == (2, 28) and not _leap(day.year):
            match |= Q(birthday__month=2, birthday__day=29)
    born = Member.objects.filter(within, match, status=Member.Status.ACTIVE, birthday__isnull=False)
    for member_id, birthday in born.values_list("pk", "birthday").iterator(CHUNK):
        assert birthday is not None  # filtered
        year = next(d.year for d in dates if _falls_on(birthday, d))
        yield Arrival(member_id, f"birthday:{year}")


def _falls_on(birthday: datetime.date, day: datetime.date) -> bool:
    if (birthday.month, birthday.day) == (day.month, day.day):
        return True
    return (
        (birthday.month, birthday.day) == (2, 29) and (day.month, day.day) == (2, 28) and not _leap(day.year)
    )


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _reviews(journey: Journey, within: Q, now: datetime.datetime) -> Iterator[Arrival]:
    """Members whose earned tier is reviewed within ``days`` and who, with what they have earned
    so far, would not keep it (the entry tier cannot be lost)."""
    policy = TierPolicy.current()
    grace = periods.grace(policy)
    tiers = ladder()
    thresholds = {tier.pk: tier.threshold for tier in tiers}
    review_at = F("valid_until") + grace
    statuses = (
        MemberTier.objects.annotate(review_at=review_at)
        .filter(
            within,
            review_at__gt=now,
            review_at__lte=now + datetime.timedelta(days=journey.days or 0),
            member__status=Member.Status.ACTIVE,
        )
        .exclude(earned_tier=tiers[0])
        .annotate(value=review_value(policy, grace))
        .values_list("member_id", "earned_tier_id", "value", "valid_until")
    )
    for member_id, earned, value, valid_until in statuses.iterator(CHUNK):
        if value < thresholds[earned]:
            yield Arrival(member_id, f"review:{valid_until:%Y-%m-%d}")


def arrivals(journey: Journey, now: datetime.datetime | None = None) -> list[Arrival]:
    """The members the trigger lets in now (one arrival per member: the soonest occurrence), less
    those already in for that occurrence and, for the segment trigger, those in the journey or
    who left it less than ``reentry_days`` ago."""
    now = now or timezone.now()
    found: dict[int, Arrival] = {}
    for arrival in _candidates(journey, now):
        found.setdefault(arrival.member_id, arrival)
    member_ids = list(found)
    for start in range(0, len(member_ids), CHUNK):
        chunk = member_ids[start : start + CHUNK]
        entries = JourneyEntry.objects.filter(journey=journey, member_id__in=chunk)
        for member_id, occurrence in entries.values_list("member_id", "occurrence"):
            if found.get(member_id) and found[member_id].occurrence == occurrence:
                del found[member_id]
        if journey.trigger == Trigger.SEGMENT and journey.reentry_days is not None:
            since = now - datetime.timedelta(days=journey.reentry_days)
            recent = entries.filter(Q(status=JourneyEntry.Status.ACTIVE) | Q(finished_at__gt=since))
            for member_id in recent.values_list("member_id", flat=True):
                found.pop(member_id, None)
    return sorted(found.values(), key=lambda a: a.member_id)
