"""Lifecycle jobs of the earning pipeline: the daily birthday campaigns."""

from __future__ import annotations

import calendar
import datetime

from django.db.models import Q
from django.utils import timezone

from campaigns import selectors
from campaigns.earning.pipeline import lifecycle_process
from campaigns.models import Award, Campaign
from members.models import Member


def birthdays_process(at: datetime.datetime | None = None) -> int:
    """Daily job: birthday campaigns for members whose birthday is today. Returns awards made.

    A 29 February birthday is celebrated on 28 February in other years. Safe to run twice.
    """
    at = at or timezone.now()
    book = selectors.rule_book()
    if not any(offer.trigger == Campaign.Trigger.BIRTHDAY for offer in book.offers):
        return 0
    day = timezone.localtime(at).date()
    today = Q(birthday__month=day.month, birthday__day=day.day)
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        today |= Q(birthday__month=2, birthday__day=29)
    made, last = 0, 0
    members = Member.objects.filter(today, status=Member.Status.ACTIVE).order_by("pk")  # not frozen or closed
    while chunk := list(members.filter(pk__gt=last)[:1000]):
        last = chunk[-1].pk
        keys = {f"{Campaign.Trigger.BIRTHDAY}:{day.year}:{m.pk}": m for m in chunk}
        done = set(Award.objects.filter(key__in=keys).values_list("key", flat=True))
        for key, member in keys.items():
            if key not in done:
                lifecycle_process(
                    member, Campaign.Trigger.BIRTHDAY, f"{day.year}:{member.pk}", at=at, book=book
                )
                made += 1
    return made
