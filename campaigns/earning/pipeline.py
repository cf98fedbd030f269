"""The earning pipeline: facts in, points, growth, tier and coupons out, each fact exactly once.

One fact is one transaction. It takes the member's row lock first (so caps, first purchase
and tier are decided one fact at a time per member), then the budgeted campaigns it matched in
primary-key order (so a budget is given out exactly, also when purchases race for the end of
it), then the points accounts (through the ledger services). The ``Award`` key makes a
second processing of the same fact return the first one's award.
"""

from __future__ import annotations

import datetime
import functools
from collections import defaultdict
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from benefits.coupons import coupon_issue, entitlements_issue
from benefits.models import Coupon
from campaigns import selectors
from campaigns.earning import engine
from campaigns.models import Award, AwardLine, AwardReview, Campaign, Participation
from members.models import Member
from members.purchases.models import MemberEvent, Purchase, Refund
from points.models import Source
from points.services import ReverseRequest, points_earn_many, points_reverse
from tiers.models import MemberTier
from tiers.services import tier_refresh

SOURCES = {
    Award.Kind.PURCHASE: Source.PURCHASE,
    Award.Kind.EVENT: Source.EVENT,
    Award.Kind.LIFECYCLE: Source.CAMPAIGN,
}


def purchase_process(
    purchase: Purchase, *, at: datetime.datetime | None = None, book: selectors.RuleBook | None = None
) -> Award:
    """Award what a purchase earns: base rule, tier multiplier, every live campaign. Once."""
    key = f"purchase:{purchase.pk}"
    if done := Award.objects.filter(key=key).first():
        return done
    book = book or selectors.rule_book()
    fact = selectors.purchase_fact(purchase, lines=book.uses_lines)
    base = book.base_for(purchase.channel, purchase.store_id)
    # Asked under the member's lock (``_process``): "given once" reads the member's awards.
    first = (
        functools.partial(
            selectors.is_first_purchase, purchase.member_id, purchase.occurred_at, purchase_id=purchase.pk
        )
        if book.uses_first_purchase
        else None
    )
    return _process(
        key=key,
        kind=Award.Kind.PURCHASE,
        member_id=purchase.member_id,
        fact=fact,
        book=book,
        at=at,
        evaluate=lambda state, usage: engine.evaluate(
            fact, state, base=base, offers=book.offers, usage=usage
        ),
        first_purchase=first,
        links={"purchase": purchase},
        reason=str(purchase),
        available_after=purchase.occurred_at,
        review_scope=(purchase.channel, purchase.store_id),
    )


def event_process(
    event: MemberEvent, *, at: datetime.datetime | None = None, book: selectors.RuleBook | None = None
) -> Award:
    """Award a behaviour event: its behaviour rules within their caps, and event campaigns."""
    key = f"event:{event.pk}"
    if done := Award.objects.filter(key=key).first():
        return done
    book = book or selectors.rule_book()
    triggers = {Campaign.Trigger.EVENT}
    if event.event_type.code == "registration":
        triggers.add(Campaign.Trigger.REGISTRATION)
    fact = engine.Fact(
        triggers=frozenset(triggers),
        at=event.occurred_at,
        local=timezone.localtime(event.occurred_at),
        channel=event.channel,
        event_type_id=event.event_type_id,
    )
    return _process(
        key=key,
        kind=Award.Kind.EVENT,
        member_id=event.member_id,
        fact=fact,
        book=book,
        at=at,
        evaluate=lambda state, usage: engine.evaluate(
            fact, state, behaviour=selectors.behaviour_rates(book, event), offers=book.offers, usage=usage
        ),
        links={"event": event},
        reason=str(event.event_type),
        review_scope=(event.channel, None),
    )


def lifecycle_process(
    member: Member,
    trigger: str,
    key: str,
    *,
    at: datetime.datetime | None = None,
    upgrade_rank: int | None = None,
    book: selectors.RuleBook | None = None,
    cause: Award | None = None,
    always: bool = False,
) -> Award | None:
    """A birthday or tier upgrade: the campaigns for it. None when no campaign has that trigger,
    unless ``always`` (an upgrade's award holds its coupons' lines, whatever the campaigns)."""
    book = book or selectors.rule_book()
    if not always and not any(offer.trigger == trigger for offer in book.offers):
        return None
    key = f"{trigger}:{key}"
    if done := Award.objects.filter(key=key).first():
        return done
    at = at or timezone.now()
    fact = engine.Fact(
        triggers=frozenset({trigger}), at=at, local=timezone.localtime(at), upgrade_rank=upgrade_rank
    )
    return _process(
        key=key,
        kind=Award.Kind.LIFECYCLE,
        member_id=member.pk,
        fact=fact,
        book=book,
        at=at,
        evaluate=lambda state, usage: engine.evaluate(fact, state, offers=book.offers, usage=usage),
        links={},
        reason=str(Campaign.Trigger(trigger).label),
        cause=cause,
    )


def _process(
    *,
    key: str,
    kind: str,
    member_id: int,
    fact: engine.Fact,
    book: selectors.RuleBook,
    at: datetime.datetime | None,
    evaluate: Callable[[engine.MemberState, dict[int, engine.Usage] | None], engine.Outcome],
    links: dict[str, Any],
    reason: str,
    first_purchase: Callable[[], bool] | None = None,
    available_after: datetime.datetime | None = None,
    review_scope: tuple[str, int | None] | None = None,
    cause: Award | None = None,
) -> Award:
    """Evaluate, record and post one fact's award. ``review_scope`` (channel, store id) names
    the review limits that apply: facts from outside (purchases, events) are held for review
    above them; lifecycle awards follow from approved campaigns and are never held."""
    at = at or timezone.now()
    with transaction.atomic():
        # This member's facts take turns. NO KEY: a writer holding a row that refers to the member
        # (a tier override holds the tier status, then records a tier change) may still insert
        # such rows; a full FOR UPDATE would block that insert while we wait for the status.
        member = Member.objects.select_for_update(no_key=True).get(pk=member_id)
        if done := Award.objects.filter(key=key).first():
            return done
        if member.status == Member.Status.CLOSED:
            raise ValidationError(
                {
                    "member": _("Member %(number)s is closed and earns nothing.")
                    % {"number": member.member_number}
                },
                code="member_closed",
            )
        first = first_purchase is not None and first_purchase()
        state = selectors.member_state(member, book, fact.at, first_purchase=first)
        matched = evaluate(state, None).matched  # which campaigns' conditions hold, before limits
        campaigns = _lock_budgets(book, matched)
        capped = [pk for pk in matched if _has_limits(book.campaigns[pk])]  # limits are frozen once live
        outcome = evaluate(state, selectors.usage(member.pk, campaigns, capped, fact.at))
        over = outcome.over(book.review_limits_for(*review_scope)) if review_scope else {}
        award = Award.objects.create(
            key=key,
            kind=kind,
            member=member,
            reason=reason[:100],
            occurred_at=fact.at,
            created_at=at,
            cause=cause,
            **links,
        )
        # What this award sets off, as it happens: its answer lists their lines without a search
        award.caused = []  # type: ignore[attr-defined]
        if cause is not None and hasattr(cause, "caused"):
            cause.caused.append(award)
        lines = [_line(award, line, book) for line in outcome.lines]
        for campaign_id, _benefit in [] if over else outcome.coupons:  # held: issued on release
            coupon = coupon_issue(
                member, benefit=book.campaigns[campaign_id].benefit, origin=Coupon.Origin.CAMPAIGN, at=at
            )
            lines.append(AwardLine(award=award, member=member, kind=AwardLine.Kind.CAMPAIGN,
                                   campaign_id=campaign_id, coupon=coupon, occurred_at=fact.at,
                                   params={"campaign": book.campaigns[campaign_id].name}))  # fmt: skip
        AwardLine.objects.bulk_create(lines)
        Participation.objects.bulk_create(
            [Participation(campaign_id=pk, member=member, control=control, first_at=fact.at)
             for pk, control in outcome.targeted.items()],
            ignore_conflicts=True,
        )  # fmt: skip
        _count_spent(outcome.lines, campaigns)  # a held award keeps its budget until rejected
        if over:
            _hold(award, outcome, over, at)  # AwardReview(award=award) caches itself as award.review
            return award
        Award.review.related.set_cached_value(award, None)  # known: not held (answers ask)
        _post(award, member, outcome.totals(), book, at, available_after)
        growth = outcome.total(engine.GROWTH)
        if kind == Award.Kind.PURCHASE or growth > 0:
            _after_growth(member, state.tier_rank, book, at, cause=cause or award)  # the root fact
    return award


def _hold(award: Award, outcome: engine.Outcome, over: dict[str, int], at: datetime.datetime) -> AwardReview:
    """Keep the award's points (and its campaigns' coupons) back until an approver decides."""
    return AwardReview.objects.create(
        award=award,
        member_id=award.member_id,
        points={code: amount for code, amount in sorted(outcome.totals().items()) if amount},
        limits=over,
        coupon_campaigns=[campaign_id for campaign_id, _benefit in outcome.coupons],
        created_at=at,
    )


def _has_limits(campaign: Campaign) -> bool:
    return any(
        limit is not None
        for limit in (
            campaign.member_max_times, campaign.member_max_points, campaign.member_daily_points,
            campaign.budget_points, campaign.budget_cny,
        )
    )  # fmt: skip


def _lock_budgets(book: selectors.RuleBook, matched: list[int]) -> dict[int, Campaign]:
    """The matched campaigns, with the budgeted ones locked and re-read (the book may be older)."""
    campaigns = {pk: book.campaigns[pk] for pk in matched}
    budgeted = sorted({pk for pk in matched if book.offer(pk).budgeted})
    if budgeted:
        fresh = Campaign.objects.select_for_update().filter(pk__in=budgeted).order_by("pk")
        for row in fresh.only("pk", "budget_points", "budget_cny", "spent_points", "spent_cny"):
            campaigns[row.pk] = row
    return campaigns


def _count_spent(lines: list[engine.Line], campaigns: dict[int, Campaign]) -> None:
    """Budgeted campaigns keep a running total (their rows are locked); results sum the lines."""
    spent: dict[int, list] = defaultdict(lambda: [0, Decimal(0)])
    for line in lines:
        if line.campaign_id in campaigns and line.point_type == engine.POINTS and line.amount:
            spent[line.campaign_id][0] += line.amount
            spent[line.campaign_id][1] += line.cny
    for pk, (points, cny) in spent.items():
        campaign = campaigns[pk]
        if campaign.budget_points is not None or campaign.budget_cny is not None:
            Campaign.objects.filter(pk=pk).update(
                spent_points=F("spent_points") + points, spent_cny=F("spent_cny") + cny
            )


def _line(award: Award, line: engine.Line, book: selectors.RuleBook) -> AwardLine:
    point_type = book.point_types[line.point_type] if line.point_type else None
    return AwardLine(
        award=award,
        member_id=award.member_id,
        kind=line.kind,
        point_type=point_type,
        amount=line.amount,
        campaign_id=line.campaign_id,
        cny=line.cny,
        occurred_at=award.occurred_at,
        params=dict(line.params),
    )


def _post(
    award: Award,
    member: Member,
    totals: dict[str, int],
    book: selectors.RuleBook,
    at: datetime.datetime,
    available_after: datetime.datetime | None,
) -> None:
    """One ledger entry per point type: the sum of the award's lines of that type."""
    amounts = {book.point_types[code]: amount for code, amount in sorted(totals.items()) if amount > 0}
    if amounts:
        points_earn_many(
            member=member, amounts=amounts, source=SOURCES[award.kind], source_ref=award.key, key=award.key,
            reason=award.reason, at=at, pending_from=available_after,
            available_at=None if available_after else at,  # behaviour and lifecycle: no return window
        )  # fmt: skip


def _after_growth(
    member: Member, tier_rank: int, book: selectors.RuleBook, at: datetime.datetime, *, cause: Award | None
) -> Award | None:
    """Re-evaluate the tier (upgrades only). On an upgrade above ``tier_rank`` (the member's rank
    before the fact ``cause``): the tier's coupons and its upgrade campaigns, in an award caused
    by that fact, so its answer explains them. Returns the upgrade's award."""
    status: MemberTier = tier_refresh(member, at=at, policy=book.policy, tiers=list(book.tiers.values()))
    tier = book.tiers.get(status.tier_id) or status.tier
    if tier.rank <= tier_rank:
        return None
    entitlements_issue(at, member=member)
    upgrade = lifecycle_process(
        member,
        Campaign.Trigger.TIER_UPGRADE,
        f"{member.pk}:{tier.code}:{status.since:%Y%m%d%H%M%S}",
        at=at,
        upgrade_rank=tier.rank,
        book=book,
        cause=cause,
        always=True,
    )
    assert upgrade is not None  # always=True
    issued = Coupon.objects.filter(member=member, origin=Coupon.Origin.ENTITLEMENT, issued_at=at).exclude(
        pk__in=AwardLine.objects.filter(member=member, coupon__isnull=False).values("coupon_id")
    )
    AwardLine.objects.bulk_create(
        AwardLine(
            award=upgrade,
            member=member,
            kind=AwardLine.Kind.BENEFIT,
            coupon=coupon,
            occurred_at=upgrade.occurred_at,
            params={"tier": tier.name},
        )
        for coupon in issued.order_by("pk")
    )
    return upgrade


def refund_process(
    refund: Refund, *, at: datetime.datetime | None = None, book: selectors.RuleBook | None = None
) -> Award:
    """Reverse what the refunded purchase earned, in proportion to the CNY refunded so far.

    Each line (base, tier, each campaign; points and growth) is reversed to
    ``round(earned x refunded / paid)`` in total, so a full refund takes back exactly what was
    earned and partial refunds never add up to more. Campaign budgets get the points back.
    ``campaigns.earning.batch_refunds`` does the same for many refunds with the helpers below.
    """
    key = f"return:{refund.pk}"  # "refund:" keys belong to the ledger (refunds of spends)
    if done := Award.objects.filter(key=key).first():
        return done
    purchase = refund.purchase
    book = book or selectors.rule_book()
    earned_award = purchase_process(purchase, at=at, book=book)
    at = at or timezone.now()
    with transaction.atomic():
        member = Member.objects.select_for_update(no_key=True).get(pk=purchase.member_id)
        if done := Award.objects.filter(key=key).first():
            return done
        before = Award.objects.filter(purchase=purchase, kind=Award.Kind.REFUND)
        refunded_before = before.aggregate(total=Sum("refund__amount"))["total"] or Decimal(0)
        earned = _net_of_negative_lines(_sums(AwardLine.objects.filter(award=earned_award, coupon=None)))
        undone = _sums(AwardLine.objects.filter(award__in=before))
        award = refund_award(refund, purchase, at)
        award.save(force_insert=True)
        ids = sorted({campaign_id for _kind, _type, campaign_id in earned if campaign_id})
        campaigns = {c.pk: c for c in Campaign.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
        lines = refund_lines(award, refund, purchase, refunded_before, earned, undone)
        AwardLine.objects.bulk_create(lines)
        # A held award has posted nothing yet (its release posts what is left after refunds);
        # a rejected one gave its budgets back and posted nothing at all.
        review = AwardReview.objects.filter(award=earned_award).values_list("status", flat=True).first()
        if review != AwardReview.Status.REJECTED:
            _count_spent(refund_given_back(lines, book), campaigns)
        posted = review in (None, AwardReview.Status.RELEASED)
        for request in refund_reversals(award, earned_award, lines, book) if posted else []:
            points_reverse(
                member=member, point_type=request.point_type, source=request.source,
                source_ref=request.source_ref, amount=request.amount, idempotency_key=request.key,
                reason=request.reason, at=at,
            )  # fmt: skip
    return award


#: A line's identity across a purchase's awards (kind, point type id, campaign id) and its sums
#: (amount, CNY, the first line's details).
LineIdent = tuple[str, int, int | None]
LineSums = tuple[int, Decimal, dict]


def refund_award(refund: Refund, purchase: Purchase, at: datetime.datetime) -> Award:
    """The refund's award, unsaved: its key makes a refund count once, whichever path takes it."""
    return Award(
        key=f"return:{refund.pk}", kind=Award.Kind.REFUND, member_id=purchase.member_id, purchase=purchase,
        refund=refund, reason=_("Refund %(number)s") % {"number": refund.refund_number},
        occurred_at=refund.occurred_at, created_at=at,
    )  # fmt: skip


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
            lines.append(AwardLine(
                award=award, member_id=award.member_id, kind=kind, point_type_id=type_id,
                campaign_id=campaign_id, amount=-take, cny=-(ratio * take), occurred_at=refund.occurred_at,
                params={**params, "refund_share": str(share)},
            ))  # fmt: skip
    return lines


def refund_given_back(lines: list[AwardLine], book: selectors.RuleBook) -> list[engine.Line]:
    """The refund's campaign lines as ``_count_spent`` counts them: budgets get the points back."""
    by_code = {pt.pk: code for code, pt in book.point_types.items()}
    return [
        engine.Line("campaign", by_code[ln.point_type_id], ln.amount, ln.campaign_id, ln.cny)
        for ln in lines if ln.campaign_id
    ]  # fmt: skip


def refund_reversals(
    award: Award, earned_award: Award, lines: list[AwardLine], book: selectors.RuleBook
) -> list[ReverseRequest]:
    """What the ledger reverses for the refund: per point type (in id order), its lines' total,
    from the points the purchase's award earned; keyed by the refund's award and the type."""
    by_code = {pt.pk: code for code, pt in book.point_types.items()}
    totals: dict[int, int] = defaultdict(int)
    for line in lines:
        totals[line.point_type_id] += -line.amount
    requests = []
    for type_id, amount in sorted(totals.items()):
        if amount > 0:
            requests.append(ReverseRequest(
                member_id=award.member_id, point_type=book.point_types[by_code[type_id]],
                source=Source.PURCHASE, source_ref=earned_award.key, key=f"{award.key}:{by_code[type_id]}",
                amount=amount, reason=award.reason,
            ))  # fmt: skip
    return requests


def _sums(lines: Iterable[AwardLine]) -> dict[LineIdent, LineSums]:
    """Per line identity (kind, point type, campaign): amount, CNY, and the first line's details.

    Lines without a point type (coupons) are left out. Takes any lines in id order: a query
    (one refund) or lines read for many purchases at once (``campaigns.earning.batch_refunds``).
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
