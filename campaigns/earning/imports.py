"""Imported facts through the earning pipeline: members' import job records a chunk's facts
through the recorders of ``members.purchases.services`` and calls this inside the chunk's
transaction, so a chunk's rows and their points commit together. They earn by
``campaigns.earning.facts.facts_earn_many``, the batch form of the API's entry points. And the
preview's marks on rows whose points will wait for review."""

from __future__ import annotations

from collections import Counter

from django.db.models import Exists, OuterRef, Sum

from campaigns import selectors
from campaigns.earning import engine
from campaigns.earning.facts import facts_earn_many
from campaigns.models import Award, AwardLine, AwardReview
from members.imports.apply import NewFacts
from members.imports.models import ImportRow


def import_facts_process(facts: NewFacts) -> Counter:
    """Award new purchases, then refunds, then registrations; points per point type code."""
    if not (facts.purchases or facts.refunds or facts.events):
        return Counter()
    awards = facts_earn_many(
        purchases=facts.purchases, refunds=facts.refunds, events=facts.events, book=selectors.rule_book()
    )
    # What was posted: not the lines of awards waiting for review (or rejected), nor of the
    # refunds of their purchases.
    unposted = AwardReview.objects.exclude(status=AwardReview.Status.RELEASED)
    totals = (
        AwardLine.objects.filter(award__in=[award.pk for award in awards], point_type__isnull=False)
        .exclude(award__review__in=unposted)
        .exclude(
            Exists(
                unposted.filter(
                    award__purchase_id=OuterRef("award__purchase_id"), award__kind=Award.Kind.PURCHASE
                )
            )
        )
        .values_list("point_type__code")
        .annotate(total=Sum("amount"))
    )
    return Counter({code: int(total) for code, total in totals})


def import_review_marks(channel: str, sales: list[ImportRow]) -> None:
    """Mark the sales whose base points alone (the earning rule on the paid amount less shipping,
    before tier and campaigns) go above a review limit: the preview says they will wait for an
    approver. The job decides on the whole award, so a row may also be held unmarked."""
    if not sales:
        return
    book = selectors.recent_rule_book()
    if not book.review_limits:
        return
    for row in sales:
        values = row.values
        store_id = values.get("store_id")
        limits = book.review_limits_for(channel, store_id)
        eligible = values["paid"] - (values.get("shipping") or 0)
        lines = []
        for rule in book.base_for(channel, store_id):
            points = engine.to_points(eligible * rule.rate, rule.rounding)
            if rule.point_type in limits and points > limits[rule.point_type]:
                name = book.point_types[rule.point_type].name
                lines.append({"type": name, "points": points, "limit": limits[rule.point_type]})
        if lines:
            row.review = {"lines": lines}
