"""Refunds for many purchases at once (imports): ``refund_process`` called once per refund in
order, in a few set-based statements per wave instead of ~30 queries per refund.

Refunds are taken in waves, as ``campaigns.earning.batch`` takes purchases: the k-th refund of each
member in the chunk goes into wave k, so a wave has one refund per member (and so per
purchase) and a member's refunds follow each other: the second partial refund of a purchase
sees what the first took back. Each wave goes through ``pipeline.refunds_take_back``, the
function ``refund_process`` calls with one refund: there is one refund path, batched or not.

A refund of a purchase that has no award yet goes through ``refund_process``, which awards
the purchase first, in its place in the order: the purchase's points may depend on budgets
and first purchases that the refunds before it change.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Sequence

from django.utils import timezone

from campaigns import selectors
from campaigns.earning.pipeline import refund_process, refunds_take_back
from campaigns.models import Award
from members.purchases.models import Purchase, Refund


def refunds_process_many(
    refunds: Sequence[Refund], *, book: selectors.RuleBook, at: datetime.datetime | None = None
) -> list[Award]:
    """Process every refund, in order; returns their awards (a refund done before: its award)."""
    if not refunds:
        return []
    at = at or timezone.now()
    purchases = _purchases(refunds)
    awarded = set(
        Award.objects.filter(key__in=[f"purchase:{pk}" for pk in purchases]).values_list(
            "purchase_id", flat=True
        )
    )
    awards: dict[int, Award] = {}
    run: list[Refund] = []
    for refund in refunds:
        if refund.purchase_id in awarded:
            run.append(refund)
            continue
        awards.update(_run(run, purchases, book, at))
        run = []
        awards[refund.pk] = refund_process(refund, at=at, book=book)
        awarded.add(refund.purchase_id)  # awarded just now: its next refunds in waves
    awards.update(_run(run, purchases, book, at))
    return [awards[refund.pk] for refund in refunds]


def _purchases(refunds: Sequence[Refund]) -> dict[int, Purchase]:
    """The refunded purchases by pk: those the refunds hold already, the rest in one query."""
    known = {r.purchase_id: r.purchase for r in refunds if Refund.purchase.is_cached(r)}
    missing = {r.purchase_id for r in refunds} - known.keys()
    return {**known, **Purchase.objects.in_bulk(missing)} if missing else known


def _run(
    refunds: list[Refund], purchases: dict[int, Purchase], book: selectors.RuleBook, at: datetime.datetime
) -> dict[int, Award]:
    """Refunds whose purchases are awarded, in waves (see the module doc)."""
    waves: list[list[Refund]] = []
    seen: dict[int, int] = defaultdict(int)
    for refund in refunds:
        member_id = purchases[refund.purchase_id].member_id
        if seen[member_id] == len(waves):
            waves.append([])
        waves[seen[member_id]].append(refund)
        seen[member_id] += 1
    awards: dict[int, Award] = {}
    for wave in waves:
        awards.update(refunds_take_back(wave, purchases, book, at))
    return awards
