"""Imported facts through the earning pipeline: members' import job calls this for each chunk,
inside the chunk's transaction, so a chunk's rows and their points commit together."""

from __future__ import annotations

from collections import Counter

from django.db.models import Sum

from campaigns import pipeline, selectors
from campaigns.batch import purchases_process_many
from campaigns.batch_refunds import refunds_process_many
from campaigns.models import AwardLine
from members.imports.runner import NewFacts


def import_facts_process(facts: NewFacts) -> Counter:
    """Award new purchases, then refunds, then registrations; points per point type code."""
    if not (facts.purchases or facts.refunds or facts.events):
        return Counter()
    book = selectors.rule_book()
    awards = purchases_process_many(facts.purchases, book=book)
    awards += refunds_process_many(facts.refunds, book=book)
    awards += [pipeline.event_process(event, book=book) for event in facts.events]
    totals = (
        AwardLine.objects.filter(award__in=[award.pk for award in awards], point_type__isnull=False)
        .values_list("point_type__code")
        .annotate(total=Sum("amount"))
    )
    return Counter({code: int(total) for code, total in totals})
