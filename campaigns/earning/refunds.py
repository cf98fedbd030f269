"""What a refund takes back: the rules, as pure functions of what the purchase earned.

Each line the purchase earned (base, tier, each campaign; points and growth) is taken back to
``round(earned x refunded / paid)`` in total, so a full refund takes back exactly what was
earned and partial refunds never add up to more. Campaign budgets get the points back. The
pipeline (``campaigns.earning.pipeline.refunds_take_back``) applies these to one refund or a
wave of them; ``refund_reads`` reads what they need, for one purchase or many, in three queries.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal

from django.db.models import F, Sum
from django.utils.translation import gettext as _

from campaigns import selectors
from campaigns.earning import engine
from campaigns.models import Award, AwardLine
from members.purchases.models import Purchase, Refund
from points.models import Source
from points.services import ReverseRequest

#: A line's identity across a purchase's awards (kind, point type id, campaign id) and its sums
#: (amount, CNY, the first line's details).
LineIdent = tuple[str, int, int | None]
LineSums = tuple[int, Decimal, dict]


def refund_award(refund: Refund, purchase: Purchase, at: datetime.datetime) -> Award:
    """The refund's award, unsaved: its key makes a refund count once, whichever path takes it."""
    return Award(
        key=f"return:{refund.pk}",
        kind=Award.Kind.REFUND,
        member_id=purchase.member_id,
        purchase=purchase,
        refund=refund,
        reason=_("Refund %(number)s") % {"number": refund.refund_number},
        occurred_at=refund.occurred_at,
        created_at=at,
    )


def refund_lines(
    award: Award,
    refund: Refund,
    purchase: Purchase,
    refunded_before: Decimal,
    earned: dict[LineIdent, LineSums],
    undone: dict[LineIdent, LineSums],
) -> list[AwardLine]:
    """The refund's lines, unsaved: each earned line (``_sums`` of the purchase's award, netted)
    taken back to its share of what is refunded now, less what earlier refunds (``undone``,
    the sums of their lines; ``refunded_before``, their CNY) took back already."""
    refunded = refunded_before + refund.amount
    share = min(refunded / purchase.paid_amount, Decimal(1)) if purchase.paid_amount else Decimal(1)
    lines = []
    for (kind, type_id, campaign_id), (amount, cny, params) in sorted(earned.items(), key=str):
        target = amount if share == 1 else engine.to_points(amount * share, "half_up")
        already = -undone.get((kind, type_id, campaign_id), (0, 0, None))[0]
        take = max(0, min(target, amount) - already)
        if take:
            ratio = cny / amount if amount else Decimal(0)
            lines.append(
                AwardLine(
                    award=award,
                    member_id=award.member_id,
                    kind=kind,
                    point_type_id=type_id,
                    campaign_id=campaign_id,
                    amount=-take,
                    cny=-(ratio * take),
                    occurred_at=refund.occurred_at,
                    params={**params, "refund_share": str(share)},
                )
            )
    return lines


def refund_given_back(lines: list[AwardLine], book: selectors.RuleBook) -> list[engine.Line]:
    """The refund's campaign lines as ``count_spent`` counts them: budgets get the points back."""
    by_code = {pt.pk: code for code, pt in book.point_types.items()}
    return [
        engine.Line("campaign", by_code[_points_type(ln)], ln.amount, ln.campaign_id, ln.cny)
        for ln in lines
        if ln.campaign_id
    ]


def _points_type(line: AwardLine) -> int:
    """A refund line's point type: ``refund_lines`` makes them from points lines only (``_sums``)."""
    assert line.point_type_id is not None
    return line.point_type_id


def refund_reversals(
    award: Award, earned_award: Award, lines: list[AwardLine], book: selectors.RuleBook
) -> list[ReverseRequest]:
    """What the ledger reverses for the refund: per point type (in id order), its lines' total,
    from the points the purchase's award earned; keyed by the refund's award and the type."""
    by_code = {pt.pk: code for code, pt in book.point_types.items()}
    totals: dict[int, int] = defaultdict(int)
    for line in lines:
        totals[_points_type(line)] += -line.amount
    requests = []
    for type_id, amount in sorted(totals.items()):
        if amount > 0:
            requests.append(
                ReverseRequest(
                    member_id=award.member_id,
                    point_type=book.point_types[by_code[type_id]],
                    source=Source.PURCHASE,
                    source_ref=earned_award.key,
                    key=f"{award.key}:{by_code[type_id]}",
                    amount=amount,
                    reason=award.reason,
                )
            )
    return requests


def _sums(lines: Iterable[AwardLine]) -> dict[LineIdent, LineSums]:
    """Per line identity (kind, point type, campaign): amount, CNY, and the first line's details.

    Lines without a point type (coupons) are left out. Takes any lines in id order: a query
    (one refund) or lines read for many purchases at once (``refund_reads``).
    """
    sums: dict[LineIdent, LineSums] = {}
    for line in lines:
        if line.point_type_id is None:
            continue
        ident = (line.kind, line.point_type_id, line.campaign_id)
        amount, cny, params = sums.get(ident, (0, Decimal(0), line.params))
        sums[ident] = (amount + line.amount, cny + line.cny, params)
    return sums


def _net_of_negative_lines(earned: dict) -> dict:
    """Fold negative lines (a tier multiplier below 1) into their point type's base line.

    Each line is then reversed in proportion on its own: a target never above what the line
    earned and growing with every refund, so reversals never add up to more than the purchase
    earned and never give points back. A negative line reversed on its own could do both.
    """
    netted = {ident: values for ident, values in earned.items() if values[0] >= 0}
    for (_kind, type_id, _campaign), (amount, cny, _params) in earned.items():
        if amount < 0:
            base = next(ident for ident in netted if ident[0] == AwardLine.Kind.BASE and ident[1] == type_id)
            total, base_cny, params = netted[base]
            netted[base] = (total + amount, base_cny + cny, params)
    return netted


def refund_reads(
    earned_awards: Mapping[int, Award],
) -> tuple[dict[int, Decimal], dict[int, dict[LineIdent, LineSums]], dict[int, dict[LineIdent, LineSums]]]:
    """Per purchase (id -> its award), what its next refund's lines are computed from: the CNY
    refunded by earlier refunds' awards, the (netted) sums of the purchase award's lines, and the
    sums of the earlier refunds' lines. Three queries for any number of purchases."""
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
