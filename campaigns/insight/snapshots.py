"""Nightly snapshots of how members stand (not sums of days): who they are, and how they buy.

Each is one GROUP BY over the members (joined to their tier and their last score), written in
place of the previous night's rows.
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.db.models import Case, CharField, Count, F, IntegerField, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.insight.models import BehaviourCount, ProfileCount
from campaigns.insight.rollups import entry_tier_id
from members.models import Member
from members.scoring.models import MemberScore

#: (band, youngest age in it); members without a birthday are "unknown"
AGE_BANDS = [("55+", 55), ("45-54", 45), ("35-44", 35), ("25-34", 25), ("18-24", 18), ("<18", 0)]
#: (band, months of membership at least)
TENURE_BANDS = [("2y+", 24), ("1-2y", 12), ("3-12m", 3), ("<3m", 0)]
#: (band, orders at least)
FREQUENCY_BANDS = [("11+", 11), ("6-10", 6), ("5", 5), ("4", 4), ("3", 3), ("2", 2), ("1", 1)]
#: (band, average days between purchases at most); one purchase has no interval
INTERVAL_BANDS = [("≤7", 7), ("8-14", 14), ("15-30", 30), ("31-60", 60), ("61-90", 90), ("91-180", 180)]
UNKNOWN, ONCE, LONGER = "unknown", "once", "181+"

BAND_LABELS = {
    UNKNOWN: _("unknown"),
    ONCE: _("bought once"),
    "2y+": _("2 years or more"),
    "1-2y": _("1 to 2 years"),
    "3-12m": _("3 to 12 months"),
    "<3m": _("under 3 months"),
}


def _years_ago(today: datetime.date, years: int) -> datetime.date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def _months_ago(now: datetime.datetime, months: int) -> datetime.datetime:
    return now - datetime.timedelta(days=round(months * 30.44))


def profiles_snapshot(*, now: datetime.datetime | None = None) -> int:
    now = now or timezone.now()
    today = timezone.localdate(now)
    age = Case(
        *(When(birthday__lte=_years_ago(today, years), then=Value(band)) for band, years in AGE_BANDS),
        default=Value(UNKNOWN),
        output_field=CharField(),
    )
    tenure = Case(
        *(When(created_at__lte=_months_ago(now, months), then=Value(band)) for band, months in TENURE_BANDS),
        default=Value("<3m"),
        output_field=CharField(),
    )
    rows = (
        Member.objects.values(
            "city",
            "gender",
            store_id=F("registration_store"),
            channel=F("registration_channel"),
            tier_id=Coalesce(F("tier_status__tier"), Value(entry_tier_id()), output_field=IntegerField()),
            age_band=age,
            tenure_band=tenure,
        )
        .annotate(members=Count("pk"))
        .order_by()
    )
    counts = [ProfileCount(**row) for row in rows]
    with transaction.atomic():
        ProfileCount.objects.all().delete()
        ProfileCount.objects.bulk_create(counts, batch_size=5000)
    return len(counts)


def behaviour_snapshot() -> int:
    """From the last scoring run: buyers of its window by orders and by days between purchases."""
    frequency = Case(
        *(When(frequency__gte=least, then=Value(band)) for band, least in FREQUENCY_BANDS),
        output_field=CharField(),
    )
    interval = Case(
        When(interval_days__isnull=True, then=Value(ONCE)),
        *(When(interval_days__lte=days, then=Value(band)) for band, days in INTERVAL_BANDS),
        default=Value(LONGER),
        output_field=CharField(),
    )
    rows = (
        MemberScore.objects.filter(frequency__gt=0)
        .values(
            store_id=F("member__registration_store"),
            tier_id=Coalesce(
                F("member__tier_status__tier"), Value(entry_tier_id()), output_field=IntegerField()
            ),
            frequency_band=frequency,
            interval_band=interval,
        )
        .annotate(members=Count("pk"), orders=Sum("frequency"), sales=Sum("monetary"))
        .order_by()
    )
    counts = [BehaviourCount(**row) for row in rows]
    with transaction.atomic():
        BehaviourCount.objects.all().delete()
        BehaviourCount.objects.bulk_create(counts, batch_size=5000)
    return len(counts)
