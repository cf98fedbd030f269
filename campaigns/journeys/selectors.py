"""Reading journeys: who would enter now (the preview) and what the journey did (results)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from benefits.models import Coupon
from campaigns.journeys.models import Journey, JourneyEntry, JourneyStep
from campaigns.journeys.triggers import arrivals
from members.messaging.models import Message
from members.models import Member
from members.purchases.models import Purchase

#: how many members the preview lists by name (masked as everywhere)
SAMPLE = 20


@dataclass(frozen=True)
class Audience:
    count: int
    sample: list[Member]


def journey_audience(journey: Journey, now: datetime.datetime | None = None) -> Audience:
    """The members the journey would let in if it ran now: the same function the job enters them
    with, so the count is the members it then reaches (its control group included)."""
    found = arrivals(journey, now or timezone.now())
    sample = list(Member.objects.filter(pk__in=[a.member_id for a in found[:SAMPLE]]).order_by("pk"))
    return Audience(len(found), sample)


@dataclass(frozen=True)
class Results:
    entered: int
    control: int
    active: int
    completed: int
    exits: list[tuple[str, int]]
    messages: int
    sent: int
    blocked: int
    coupons: int
    redeemed: int
    conversion: Decimal | None
    control_conversion: Decimal | None


def _share(part: int, whole: int) -> Decimal | None:
    return Decimal(part) / whole if whole else None


def journey_results(journey: Journey) -> Results:
    """Counts of the journey's entries and what they received; conversion is a purchase within
    ``conversion_days`` of entering, for the members who walked it and for the control group."""
    S = JourneyEntry.Status
    window = datetime.timedelta(days=journey.conversion_days)
    bought = Purchase.objects.filter(
        member_id=OuterRef("member_id"),
        occurred_at__gte=OuterRef("entered_at"),
        occurred_at__lt=OuterRef("entered_at") + window,
    ).exclude(status=Purchase.Status.REFUNDED)
    entries = JourneyEntry.objects.filter(journey=journey)
    figures = entries.annotate(bought=Exists(bought)).aggregate(
        entered=Count("pk"),
        control=Count("pk", filter=Q(status=S.CONTROL)),
        active=Count("pk", filter=Q(status=S.ACTIVE)),
        completed=Count("pk", filter=Q(status=S.COMPLETED)),
        converted=Count("pk", filter=Q(bought=True) & ~Q(status=S.CONTROL)),
        control_converted=Count("pk", filter=Q(bought=True, status=S.CONTROL)),
    )
    exits = dict(
        entries.filter(status=S.EXITED).values_list("exit_reason").annotate(n=Count("pk")).order_by()
    )
    source = f"journey:{journey.code}"
    messages = Message.objects.filter(source=source).aggregate(
        queued=Count("pk"),
        sent=Count("pk", filter=Q(status__in=[Message.Status.SENT, Message.Status.DELIVERED])),
        blocked=Count("pk", filter=Q(status=Message.Status.BLOCKED)),
    )
    # the coupon an entry holds is the one it issued, except for the coupon-expiry trigger's
    issued = journey.steps.filter(kind=JourneyStep.Kind.COUPON).exists()
    coupons = Coupon.objects.filter(
        pk__in=entries.filter(coupon__isnull=False).values("coupon") if issued else []
    )
    walked = figures["entered"] - figures["control"]
    return Results(
        entered=figures["entered"],
        control=figures["control"],
        active=figures["active"],
        completed=figures["completed"],
        exits=[(str(JourneyEntry.Exit(reason).label), count) for reason, count in sorted(exits.items())],
        messages=messages["queued"],
        sent=messages["sent"],
        blocked=messages["blocked"],
        coupons=coupons.count(),
        redeemed=coupons.filter(status=Coupon.Status.REDEEMED).count(),
        conversion=_share(figures["converted"], walked),
        control_conversion=_share(figures["control_converted"], figures["control"]),
    )
