"""Whether a fact's award waits for review, and the hold that keeps it back.

An award is held when its member is frozen, when a risk rule asks for it (the member is under
an open risk case, or this purchase takes them above a velocity rule: ``campaigns.risk.inline``),
or when it is above a review limit. The pipeline (one fact) and an import's waves
(``campaigns.earning.batch``) decide with these same functions.
"""

from __future__ import annotations

from collections.abc import Sequence

from campaigns import selectors
from campaigns.earning import engine
from campaigns.models import Award, AwardReview
from campaigns.risk.inline import Fired
from members.models import Member


def review_over(award: Award, outcome: engine.Outcome, book: selectors.RuleBook) -> dict[str, int]:
    """The review limits the award goes above (then it is held): those of the channel and store of
    a fact from outside (a purchase, an event). Lifecycle awards follow from approved campaigns
    and are never held."""
    # a purchase's or an event's award names it
    if award.kind == Award.Kind.PURCHASE and award.purchase is not None:
        scope = (award.purchase.channel, award.purchase.store_id)
    elif award.kind == Award.Kind.EVENT and award.event is not None:
        scope = (award.event.channel, None)
    else:
        return {}
    return outcome.over(book.review_limits_for(*scope))


def hold_reason(
    member: Member, award: Award, outcome: engine.Outcome, over: dict[str, int], fired: Sequence[Fired] = ()
) -> str:
    """Why the award waits for review ("": it does not). A frozen member earns nothing until an
    approver releases the award once the member is unfrozen; a risk case holds what the member
    earns from outside (purchases, events) while it is open; an award of nothing is not held."""
    if not (any(outcome.totals().values()) or outcome.coupons):
        return ""
    if member.status == Member.Status.FROZEN:
        return AwardReview.Reason.MEMBER_FROZEN
    from_outside = award.kind in (Award.Kind.PURCHASE, Award.Kind.EVENT)
    if from_outside and (member.hold_awards or any(f.rule.holds for f in fired)):
        return AwardReview.Reason.RISK
    return AwardReview.Reason.OVER_LIMIT if over else ""


def award_hold(award: Award, outcome: engine.Outcome, over: dict[str, int], reason: str) -> AwardReview:
    """Keep the award's points (and its campaigns' coupons) back until an approver decides. Unsaved."""
    return AwardReview(
        award=award,
        member_id=award.member_id,
        reason=reason,
        points={code: amount for code, amount in sorted(outcome.totals().items()) if amount},
        limits=over,
        coupon_campaigns=[campaign_id for campaign_id, _benefit in outcome.coupons],
        created_at=award.created_at,
    )
