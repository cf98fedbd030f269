"""Refunds for many purchases at once (imports): the same awards, lines, campaign budgets and
ledger entries as ``refund_process`` called once per refund in order, in a few set-based
statements per chunk instead of ~30 queries per refund.

Refunds are taken in waves, as ``campaigns.earning.batch`` takes purchases: the k-th refund of each
member in the chunk goes into wave k, so a wave has one refund per member (and so per
purchase) and a member's refunds follow each other: the second partial refund of a purchase
sees what the first took back. A wave locks its members, then the campaigns the purchases
earned from, then the points accounts, each in primary-key order, as ``refund_process`` does.
The computation per refund is ``refund_process``'s own (``refund_lines`` and the helpers
next to it in ``campaigns.earning.pipeline``); only the reads and writes around it are set-based.

A refund of a purchase that has no award yet goes through ``refund_process``, which awards
the purchase first, in its place in the order: the purchase's points may depend on budgets
and first purchases that the refunds before it change. So does a refund of a purchase whose
award is held for review or was rejected (nothing was posted to reverse).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from campaigns import selectors
from campaigns.earning import engine
from campaigns.earning.pipeline import (
    _count_spent,
    _net_of_negative_lines,
    _sums,
    refund_award,
    refund_given_back,
    refund_lines,
    refund_process,
    refund_reversals,
)
from campaigns.models import Award, AwardLine, AwardReview, Campaign
from config.common.bulk import bulk_insert
from members.models import Member
from members.purchases.models import Purchase, Refund
from points.services.reverse import points_reverse_bulk

#: The smallest CNY amount a campaign's running total keeps (its column's decimal places).
SPENT_CNY_STEP = Decimal(1).scaleb(-Campaign._meta.get_field("spent_cny").decimal_places)


def refunds_process_many(
    refunds: Sequence[Refund], *, book: selectors.RuleBook, at: datetime.datetime | None = None
) -> list[Award]:
    """Process every refund, in order; returns their awards (a refund done before: its award)."""
    if not refunds:
        return []
    at = at or timezone.now()
    purchases = _purchases(refunds)
    # Awarded purchases go in waves, unless their award is held for review or was rejected:
    # it posted nothing to reverse, and the single path knows what to do.
    awarded = {
        purchase_id
        for purchase_id, review in Award.objects.filter(
            key__in=[f"purchase:{pk}" for pk in purchases]
        ).values_list("purchase_id", "review__status")
        if review in (None, AwardReview.Status.RELEASED)
    }
    awards: dict[int, Award] = {}
    run: list[Refund] = []
    for refund in refunds:
        if refund.purchase_id in awarded:
            run.append(refund)
            continue
        awards.update(_run(run, purchases, book, at))
        run = []
        awards[refund.pk] = refund_process(refund, at=at, book=book)
        if not AwardReview.objects.filter(award__key=f"purchase:{refund.purchase_id}").exists():
            awarded.add(refund.purchase_id)  # awarded just now, and not held: its next refunds in waves
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
        awards.update(_wave(wave, purchases, book, at))
    return awards


def _wave(
    refunds: list[Refund], purchases: dict[int, Purchase], book: selectors.RuleBook, at: datetime.datetime
) -> dict[int, Award]:
    keys = {refund.pk: f"return:{refund.pk}" for refund in refunds}
    earned_keys = {refund.purchase_id: f"purchase:{refund.purchase_id}" for refund in refunds}
    with transaction.atomic():
        members = {purchases[refund.purchase_id].member_id for refund in refunds}
        list(
            Member.objects.select_for_update(no_key=True)
            .filter(pk__in=members)
            .order_by("pk")
            .values_list("pk")
        )
        found = {
            award.key: award
            for award in Award.objects.filter(key__in=[*keys.values(), *earned_keys.values()])
        }
        done = {refund.pk: found[keys[refund.pk]] for refund in refunds if keys[refund.pk] in found}
        todo = [refund for refund in refunds if refund.pk not in done]
        if not todo:
            return done
        earned_awards = {refund.purchase_id: found[earned_keys[refund.purchase_id]] for refund in todo}
        refunded_before, earned, undone = _before(earned_awards)
        ids = sorted({campaign_id for sums in earned.values() for _k, _t, campaign_id in sums if campaign_id})
        campaigns = (
            {c.pk: c for c in Campaign.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
            if ids
            else {}
        )
        made: list[tuple[Refund, Award, list[AwardLine]]] = []
        for refund in todo:
            purchase = purchases[refund.purchase_id]
            award = refund_award(refund, purchase, at)
            lines = refund_lines(
                award, refund, purchase, refunded_before.get(purchase.pk, Decimal(0)), earned[purchase.pk],
                undone[purchase.pk],
            )  # fmt: skip
            made.append((refund, award, lines))
        bulk_insert([award for _refund, award, _lines in made])
        bulk_insert([line for _refund, _award, lines in made for line in lines])
        _count_spent_in_order([refund_given_back(lines, book) for _refund, _award, lines in made], campaigns)
        points_reverse_bulk(
            [
                request
                for refund, award, lines in made
                for request in refund_reversals(award, earned_awards[refund.purchase_id], lines, book)
            ],
            at=at,
        )
    return {**done, **{refund.pk: award for refund, award, _lines in made}}


def _before(earned_awards: dict[int, Award]) -> tuple[dict[int, Decimal], dict[int, dict], dict[int, dict]]:
    """Per purchase, what ``refund_process`` reads before computing a refund: the CNY refunded
    by earlier refunds' awards, the (netted) sums of the purchase award's lines, and the sums
    of the earlier refunds' lines. Three queries for the whole wave."""
    purchase_ids = list(earned_awards)
    refunded = dict(
        Award.objects.filter(purchase_id__in=purchase_ids, kind=Award.Kind.REFUND)
        .order_by()
        .values_list("purchase_id")
        .annotate(total=Sum("refund__amount"))
    )
    earned_lines: dict[int, list[AwardLine]] = defaultdict(list)
    undone_lines: dict[int, list[AwardLine]] = defaultdict(list)
    purchase_of = {award.pk: purchase_id for purchase_id, award in earned_awards.items()}
    # Two queries, not one with OR: an OR across the join cannot use either index, and a large
    # table's award lines would be read whole for every wave.
    earned_rows = AwardLine.objects.filter(award_id__in=purchase_of, coupon=None, point_type__isnull=False)
    for line in earned_rows.order_by("id"):
        earned_lines[purchase_of[line.award_id]].append(line)
    undone_rows = (
        AwardLine.objects.filter(
            award__purchase_id__in=purchase_ids, award__kind=Award.Kind.REFUND, point_type__isnull=False
        )
        .annotate(refunded_purchase=F("award__purchase_id"))
        .order_by("id")
    )
    for line in undone_rows:
        undone_lines[line.refunded_purchase].append(line)
    earned = {pk: _net_of_negative_lines(_sums(earned_lines[pk])) for pk in purchase_ids}
    undone = {pk: _sums(undone_lines[pk]) for pk in purchase_ids}
    return refunded, earned, undone


def _count_spent_in_order(given_back: list[list[engine.Line]], campaigns: dict[int, Campaign]) -> None:
    """``_count_spent`` for each refund's lines, in order, with the wave's result.

    The database rounds a campaign's CNY total to its column's places after each UPDATE, so
    adding the wave's sum at once equals adding refund after refund only when every amount is
    a whole number of those places (the usual case: points x a CNY value per point). Then it
    is one UPDATE per campaign; otherwise one per refund and campaign, as the single path does.
    """
    lines = [line for each in given_back for line in each]
    if all(line.cny == line.cny.quantize(SPENT_CNY_STEP) for line in lines):
        _count_spent(lines, campaigns)
    else:
        for each in given_back:
            _count_spent(each, campaigns)
