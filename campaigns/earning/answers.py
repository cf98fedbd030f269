"""What a fact earned, as the API and the admin show it: an award's lines in numbers and words
(with the awards it set off), its review hold, and a purchase with its refunds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from campaigns.earning import engine, explain
from campaigns.models import Award, AwardLine, AwardReview
from members.purchases.models import Purchase, Refund
from points.models import PointType


@dataclass(frozen=True)
class ExplainedLine:
    """One line of an award or a preview: the numbers and the words (``explain``)."""

    kind: str  # AwardLine.Kind
    point_type: str | None  # the point type's code; None for a coupon
    amount: int
    campaign: str | None  # the campaign's name when a campaign gave the line
    explanation: str


@dataclass(frozen=True)
class AwardSummary:
    lines: list[ExplainedLine]
    totals: dict[str, int]  # per point type code; "points" and "growth" always present


def summary_of(lines: list[ExplainedLine]) -> AwardSummary:
    totals = {engine.POINTS: 0, engine.GROWTH: 0}
    for line in lines:
        if line.point_type:
            totals[line.point_type] = totals.get(line.point_type, 0) + line.amount
    return AwardSummary(lines=lines, totals=totals)


def campaign_name(campaign_id: int | None, params) -> str | None:
    """The name the campaign had when it gave the line (lines keep it in their details)."""
    if campaign_id is None:
        return None
    return str(params.get("campaign", "")) or None


def _lines_prefetch() -> Prefetch:
    return Prefetch(
        "lines", queryset=AwardLine.objects.select_related("point_type", "coupon__benefit").order_by("id")
    )


def award_summary(award: Award) -> AwardSummary:
    """The award's lines in numbers and words, with totals per point type, and the lines of the
    awards it caused (a tier upgrade's bonus and coupons): every point the fact moved. Lines
    prefetched (``lines`` and ``consequences``, see ``purchase_history``) or read in one query."""
    cache = getattr(award, "_prefetched_objects_cache", {})
    if "lines" in cache and "consequences" in cache:
        lines = list(award.lines.all()) + [
            line for caused in award.consequences.all() for line in caused.lines.all()
        ]
    else:
        awards: list[int] | QuerySet[Award, Any]
        if hasattr(award, "caused"):  # made just now by the pipeline, which noted what it set off
            awards = [award.pk, *(caused.pk for caused in award.caused)]
        else:  # awards first (two index scans: the award and those it caused), then their lines
            awards = Award.objects.filter(Q(pk=award.pk) | Q(cause=award)).values("pk")
        lines = list(
            AwardLine.objects.filter(award__in=awards)
            .select_related("point_type", "coupon__benefit")
            .order_by("award_id", "id")
        )
    return summary_of(
        [
            ExplainedLine(
                kind=line.kind,
                point_type=line.point_type.code if line.point_type is not None else None,
                amount=line.amount,
                campaign=campaign_name(line.campaign_id, line.params),
                explanation=explain.line_text(line),
            )
            for line in lines
        ]
    )


@dataclass(frozen=True)
class ReviewSummary:
    status: str  # AwardReview.Status
    reason: str  # AwardReview.Reason
    points: dict[str, int]  # "points" and "growth" always present
    limits: dict[str, int]
    message: str


def award_review(award: Award) -> ReviewSummary | None:
    """The award's review hold, if it has one, in numbers and words."""
    try:
        review = award.review  # set by the pipeline on an award it just made: no query
    except AwardReview.DoesNotExist:
        return None
    over = "; ".join(
        _("%(amount)s %(type)s is above the review limit of %(limit)s")
        % {
            "amount": f"{review.points.get(pt.code, 0):,}",
            "type": pt.name,
            "limit": f"{review.limits[pt.code]:,}",
        }
        for pt in PointType.objects.filter(code__in=review.limits).order_by("pk")
    )
    if review.reason == AwardReview.Reason.MEMBER_FROZEN:
        over = "; ".join(filter(None, [str(_("the member is frozen")), over]))
    elif review.reason == AwardReview.Reason.RISK:  # the rules are the brand's: not named to partners
        over = "; ".join(filter(None, [str(_("a risk check asks for a review")), over]))
    if review.status == AwardReview.Status.HELD:
        message = _("Held for review: %(why)s. Nothing is posted until an approver releases it.") % {
            "why": over
        }
    else:
        message = _("%(status)s after review: %(why)s.") % {
            "status": review.get_status_display(),
            "why": over,
        }
    return ReviewSummary(
        status=review.status,
        reason=review.reason,
        points={engine.POINTS: 0, engine.GROWTH: 0, **review.points},
        limits=dict(review.limits),
        message=message,
    )


@dataclass(frozen=True)
class RefundHistory:
    refund: Refund
    award: AwardSummary | None  # None until the refund is processed


@dataclass(frozen=True)
class PurchaseHistory:
    purchase: Purchase
    award: AwardSummary | None  # None until the purchase is processed
    refunds: list[RefundHistory]


def purchase_history(purchase: Purchase) -> PurchaseHistory:
    """A purchase with what it earned and each refund with what it took back (four queries)."""
    awards = list(
        Award.objects.filter(purchase=purchase).prefetch_related(
            _lines_prefetch(),
            Prefetch(
                "consequences", queryset=Award.objects.order_by("id").prefetch_related(_lines_prefetch())
            ),
        )
    )
    earned = next((award for award in awards if award.kind == Award.Kind.PURCHASE), None)
    by_refund = {award.refund_id: award for award in awards if award.kind == Award.Kind.REFUND}
    refunds = [
        RefundHistory(refund, award_summary(by_refund[refund.pk]) if refund.pk in by_refund else None)
        for refund in purchase.refunds.order_by("occurred_at", "id")
    ]
    return PurchaseHistory(purchase, award_summary(earned) if earned else None, refunds)
