"""Deciding awards held for review (see ``campaigns.models.review``): release or reject.

Releasing posts exactly what was held, less what refunds of the purchase took back while it
waited, as the ledger entries the pipeline would have posted (same keys, the return window
counted from the purchase), then issues the held campaign coupons and re-evaluates the tier.
Rejecting posts nothing and gives the campaigns' budgets back. Either is final.

Lock order is the pipeline's: the member row, then the points accounts (through the ledger),
then the tier status. The member lock also orders a decision against a refund of the same
purchase arriving at that moment.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from benefits.coupons import coupon_issue
from benefits.models import Coupon
from campaigns import selectors
from campaigns.earning import engine
from campaigns.earning.budgets import count_spent
from campaigns.earning.pipeline import _after_growth, _post
from campaigns.models import Award, AwardLine, AwardReview, Campaign
from campaigns.webhooks import review_released
from config.common.errors import BusinessRuleError
from members.errors import MemberFrozen
from members.models import Member

DECIDE_PERMISSION = "campaigns.decide_awardreview"


class ReviewDecided(BusinessRuleError):
    """The award was released or rejected already."""

    code = "review_decided"


def award_release(
    review: AwardReview, *, actor: Any, note: str = "", at: datetime.datetime | None = None
) -> AwardReview:
    """Post the held points (net of refunds since), issue the held coupons, refresh the tier."""
    _check_permission(actor)
    at = at or timezone.now()
    book = selectors.rule_book()
    with transaction.atomic():
        member = Member.objects.select_for_update(no_key=True).get(pk=review.member_id)
        review = _decidable(review)
        if member.status == Member.Status.FROZEN:
            raise MemberFrozen(
                _("%(number)s is frozen: unfreeze the member before releasing what they earned.")
                % {"number": member.member_number}
            )
        award = review.award
        tier_rank = selectors.member_state(member, book, at).tier_rank
        by_type: dict[str, int] = defaultdict(int)
        for (code, _campaign), (amount, _cny) in _net(award).items():
            by_type[code] += amount
        _post(award, member, dict(by_type), book, at)
        review_released(award, dict(by_type), at)
        coupons = []
        for campaign in Campaign.objects.filter(pk__in=review.coupon_campaigns).select_related("benefit"):
            assert campaign.benefit is not None  # only campaigns that grant a coupon are listed
            coupon = coupon_issue(member, benefit=campaign.benefit, origin=Coupon.Origin.CAMPAIGN, at=at)
            coupons.append(
                AwardLine(
                    award=award,
                    member=member,
                    kind=AwardLine.Kind.CAMPAIGN,
                    campaign=campaign,
                    coupon=coupon,
                    occurred_at=award.occurred_at,
                    params={"campaign": campaign.name},
                )
            )
        AwardLine.objects.bulk_create(coupons)
        if by_type.get(engine.GROWTH, 0) > 0 or award.kind == Award.Kind.PURCHASE:
            _after_growth(member, tier_rank, book, at, cause=award)
        return _decide(review, AwardReview.Status.RELEASED, actor, note, at)


def award_reject(
    review: AwardReview, *, actor: Any, note: str = "", at: datetime.datetime | None = None
) -> AwardReview:
    """Post nothing, ever; the campaigns' budgets get back what the award had reserved."""
    _check_permission(actor)
    at = at or timezone.now()
    with transaction.atomic():
        Member.objects.select_for_update(no_key=True).filter(pk=review.member_id).exists()
        review = _decidable(review)
        net = _net(review.award)
        ids = sorted({campaign_id for (_code, campaign_id) in net if campaign_id})
        # giving back is one F() update per campaign: nothing is read and decided, so no lock
        campaigns = {c.pk: c for c in Campaign.objects.filter(pk__in=ids)}
        back = [
            engine.Line(AwardLine.Kind.CAMPAIGN, code, -amount, campaign_id, -cny)
            for (code, campaign_id), (amount, cny) in sorted(net.items(), key=str)
            if campaign_id
        ]
        count_spent(back, campaigns)
        return _decide(review, AwardReview.Status.REJECTED, actor, note, at)


def _check_permission(actor: Any) -> None:
    if not actor.has_perm(DECIDE_PERMISSION):
        raise PermissionDenied(_("Only approvers can release or reject held awards."))


def _decidable(review: AwardReview) -> AwardReview:
    """The review as it is now. The caller holds the member's lock, which every decision and
    every fact of the member takes first, so no other lock is needed to decide once."""
    review = AwardReview.objects.select_related("award__purchase").get(pk=review.pk)
    if review.status != AwardReview.Status.HELD:
        raise ReviewDecided(_("This award was already %(status)s.") % {"status": review.get_status_display()})
    return review


def _net(award: Award) -> dict[tuple[str, int | None], tuple[int, Decimal]]:
    """{(point type code, campaign id): (points, CNY)} the award earned, less what refunds of
    its purchase took back meanwhile."""
    lines = AwardLine.objects.filter(award=award)
    if award.purchase_id:  # the purchase's award and its refunds' awards
        lines = AwardLine.objects.filter(
            award__purchase_id=award.purchase_id, award__kind__in=[Award.Kind.PURCHASE, Award.Kind.REFUND]
        )
    net: dict[tuple[str, int | None], tuple[int, Decimal]] = {}
    for code, campaign_id, amount, cny in lines.exclude(point_type=None).values_list(
        "point_type__code", "campaign_id", "amount", "cny"
    ):
        total, value = net.get((code, campaign_id), (0, Decimal(0)))
        net[(code, campaign_id)] = (total + amount, value + cny)
    return net


def _decide(review: AwardReview, status: str, actor: Any, note: str, at: datetime.datetime) -> AwardReview:
    review.status, review.decided_by, review.decided_at, review.note = status, actor, at, note[:200]
    review.save(update_fields=["status", "decided_by", "decided_at", "note"])
    return review
