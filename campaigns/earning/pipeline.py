"""The earning pipeline: facts in, points, growth, tier and coupons out, each fact exactly once.

One fact is one transaction. It takes the member's row lock first (so caps, first purchase
and tier are decided one fact at a time per member), then the budgeted campaigns it matched in
primary-key order (so a budget is given out exactly, also when purchases race for the end of
it), then the points accounts (through the ledger services). The ``Award`` key makes a
second processing of the same fact return the first one's award.

The batch forms for imports (``campaigns.earning.batch``, ``batch_refunds``) write what these
functions write with the same builders: a refund is always a wave (``refunds_take_back``), of
one refund here.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable, Sequence
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from benefits.coupons import coupon_issue, entitlements_issue
from benefits.models import Coupon
from campaigns import selectors
from campaigns.earning import engine
from campaigns.earning.budgets import count_spent, count_spent_in_order, has_limits, lock_budgets
from campaigns.earning.holds import award_hold, hold_reason, review_over
from campaigns.earning.referrals import lock_member, referral_reward
from campaigns.earning.refunds import (
    refund_award,
    refund_given_back,
    refund_lines,
    refund_reads,
    refund_reversals,
)
from campaigns.earning.usage import behaviour_rates, usage_of
from campaigns.models import Award, AwardLine, AwardReview, Campaign, Participation
from campaigns.risk.inline import velocity_case, velocity_fired
from campaigns.webhooks import purchase_awarded
from config.common.bulk import bulk_insert
from members.errors import MemberClosed
from members.models import Member
from members.purchases.models import MemberEvent, Purchase, Refund
from points.cash.refunds import holds_refund
from points.models import Source
from points.services import points_reverse_bulk
from points.services.ledger import EarnRequest, points_earn_bulk
from tiers.models import MemberTier
from tiers.services import tier_refresh

SOURCES: dict[str, Source] = {
    Award.Kind.PURCHASE: Source.PURCHASE,
    Award.Kind.EVENT: Source.EVENT,
    Award.Kind.LIFECYCLE: Source.CAMPAIGN,
}


def purchase_process(
    purchase: Purchase, *, at: datetime.datetime | None = None, book: selectors.RuleBook | None = None
) -> Award:
    """Award what a purchase earns: base rule, tier multiplier, every live campaign. Once."""
    if done := Award.objects.filter(key=f"purchase:{purchase.pk}").first():
        return done
    book = selectors.book_at(book or selectors.rule_book(), purchase.occurred_at)
    fact = selectors.purchase_fact(purchase, lines=book.uses_lines)
    # Asked under the member's lock (``_process``): "given once" reads the member's awards.
    first = (
        functools.partial(
            selectors.is_first_purchase, purchase.member_id, purchase.occurred_at, purchase_id=purchase.pk
        )
        if book.uses_first_purchase
        else None
    )
    return _process(
        award=purchase_award(purchase, at or timezone.now()),
        fact=fact,
        book=book,
        evaluate=lambda state, usage: purchase_evaluate(purchase, fact, state, book, usage),
        first_purchase=first,
    )


def purchase_award(purchase: Purchase, at: datetime.datetime) -> Award:
    """A purchase's award, unsaved: the same for one purchase and for an import's wave."""
    return Award(
        key=f"purchase:{purchase.pk}",
        kind=Award.Kind.PURCHASE,
        member_id=purchase.member_id,
        purchase=purchase,
        reason=str(purchase)[:100],
        occurred_at=purchase.occurred_at,
        created_at=at,
    )


def purchase_evaluate(
    purchase: Purchase,
    fact: engine.Fact,
    state: engine.MemberState,
    book: selectors.RuleBook,
    usage: dict[int, engine.Usage] | None,
) -> engine.Outcome:
    """What a purchase earns: the base rule of its channel and store, and every live campaign."""
    base = book.base_for(purchase.channel, purchase.store_id)
    return engine.evaluate(fact, state, base=base, offers=book.offers, usage=usage)


def event_process(
    event: MemberEvent, *, at: datetime.datetime | None = None, book: selectors.RuleBook | None = None
) -> Award:
    """Award a behaviour event: its behaviour rules within their caps, and event campaigns."""
    key = f"event:{event.pk}"
    if done := Award.objects.filter(key=key).first():
        return done
    at = at or timezone.now()
    book = selectors.book_at(book or selectors.rule_book(), event.occurred_at)
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
        award=Award(
            key=key,
            kind=Award.Kind.EVENT,
            member_id=event.member_id,
            event=event,
            reason=str(event.event_type)[:100],
            occurred_at=fact.at,
            created_at=at,
        ),
        fact=fact,
        book=book,
        evaluate=lambda state, usage: engine.evaluate(
            fact, state, behaviour=behaviour_rates(book, event), offers=book.offers, usage=usage
        ),
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
        award=Award(
            key=key,
            kind=Award.Kind.LIFECYCLE,
            member_id=member.pk,
            reason=str(Campaign.Trigger(trigger).label)[:100],
            occurred_at=fact.at,
            created_at=at,
            cause=cause,
        ),
        fact=fact,
        book=book,
        evaluate=lambda state, usage: engine.evaluate(fact, state, offers=book.offers, usage=usage),
    )


def _process(
    *,
    award: Award,
    fact: engine.Fact,
    book: selectors.RuleBook,
    evaluate: Callable[[engine.MemberState, dict[int, engine.Usage] | None], engine.Outcome],
    first_purchase: Callable[[], bool] | None = None,
) -> Award:
    """Evaluate, record and post one fact's award (``award``: unsaved, its key, member and time
    set). An import's wave of purchases (``campaigns.earning.batch``) builds and writes the same
    rows with the functions below it: ``review_over``, ``award_hold``, ``participations``, ``_line``
    and ``earn_request``."""
    key, member_id, at, cause = award.key, award.member_id, award.created_at, award.cause
    with transaction.atomic():
        # This member's facts take turns. NO KEY: a writer holding a row that refers to the member
        # (a tier override holds the tier status, then records a tier change) may still insert
        # such rows; a full FOR UPDATE would block that insert while we wait for the status. A
        # referee's first purchase locks its referrer in the same statement (earning/referrals.py).
        locked = Member.objects.select_for_update(no_key=True)
        member, referrer = lock_member(
            locked, member_id, book=book, purchase=award.kind == Award.Kind.PURCHASE
        )
        if done := Award.objects.filter(key=key).first():
            return done
        if member.merged_into_id is not None:
            member, referrer = _follow_merge(member, award), None
        if member.status == Member.Status.CLOSED:
            raise MemberClosed(
                _("Member %(number)s is closed and earns nothing.") % {"number": member.member_number},
                field="member",
            )
        first = first_purchase is not None and first_purchase()
        referred = getattr(member, "referred", None)  # read with the lock when a campaign asks
        state = selectors.member_state(
            member, book, fact.at, first_purchase=first, fact=fact, referred=referred
        )
        matched = evaluate(state, None).matched  # which campaigns' conditions hold, before limits
        campaigns = lock_budgets(book, matched)
        capped = [pk for pk in matched if has_limits(book.campaigns[pk])]  # limits are frozen once live
        outcome = evaluate(state, usage_of(member.pk, campaigns, capped, fact.at))
        over = review_over(award, outcome, book)
        fired = velocity_fired([(award, outcome)], book.risk_rules).get(0, [])
        reason = hold_reason(member, award, outcome, over, fired)
        award.member = member
        award.save(force_insert=True)
        for each in fired:
            velocity_case(each, member, award, at)
        # What this award sets off, as it happens: its answer lists their lines without a search
        award.caused = []  # type: ignore[attr-defined]
        if cause is not None and hasattr(cause, "caused"):
            cause.caused.append(award)
        lines = [_line(award, line, book) for line in outcome.lines]
        for campaign_id, _benefit in [] if reason else outcome.coupons:  # held: issued on release
            benefit = book.campaigns[campaign_id].benefit
            assert benefit is not None  # outcome.coupons lists the campaigns that grant one
            coupon = coupon_issue(member, benefit=benefit, origin=Coupon.Origin.CAMPAIGN, at=at)
            lines.append(
                AwardLine(
                    award=award,
                    member=member,
                    kind=AwardLine.Kind.CAMPAIGN,
                    campaign_id=campaign_id,
                    coupon=coupon,
                    occurred_at=fact.at,
                    params={"campaign": book.campaigns[campaign_id].name},
                )
            )
        AwardLine.objects.bulk_create(lines)
        Participation.objects.bulk_create(participations(award, outcome), ignore_conflicts=True)
        count_spent(outcome.lines, campaigns)  # a held award keeps its budget until rejected
        if referrer is not None:  # the referee's first purchase rewards the referrer, once
            referral_reward(award, member, referrer, book, at, _process)
        if reason:
            # AwardReview(award=award) caches itself as award.review
            award_hold(award, outcome, over, reason).save(force_insert=True)
            return award
        Award.review.related.set_cached_value(award, None)  # known: not held (answers ask)
        _post(award, member, outcome.totals(), book, at)
        purchase_awarded(award, outcome.totals(), at)
        growth = outcome.total(engine.GROWTH)
        if award.kind == Award.Kind.PURCHASE or growth > 0:
            _after_growth(member, state.tier_rank, book, at, cause=cause or award)  # the root fact
    return award


def _follow_merge(member: Member, award: Award) -> Member:
    """The survivor, locked, for a fact of a member merged since it was recorded (its insert
    waited for the merge's lock): the fact becomes the survivor's, as the merge made the member's
    other facts, and earns there."""
    assert member.merged_into_id is not None
    survivor = Member.objects.select_for_update(no_key=True).get(pk=member.merged_into_id)
    if award.purchase_id:
        Purchase.objects.filter(pk=award.purchase_id, member_id=member.pk).update(member=survivor)
    if award.event_id:
        MemberEvent.objects.filter(pk=award.event_id, member_id=member.pk).update(member=survivor)
    award.member_id = survivor.pk
    return survivor


def participations(award: Award, outcome: engine.Outcome) -> list[Participation]:
    """The campaigns the award's fact was targeted by (in the control group or not), unsaved."""
    return [
        Participation(campaign_id=pk, member_id=award.member_id, control=control, first_at=award.occurred_at)
        for pk, control in outcome.targeted.items()
    ]


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
    award: Award, member: Member, totals: dict[str, int], book: selectors.RuleBook, at: datetime.datetime
) -> None:
    """One ledger entry per point type: the sum of the award's lines of that type."""
    request = earn_request(award, totals, book, at)
    if request.amounts:
        points_earn_bulk([request], at=at)


def earn_request(
    award: Award, totals: dict[str, int], book: selectors.RuleBook, at: datetime.datetime
) -> EarnRequest:
    """What the ledger earns for the award: per point type its positive total. A purchase's points
    wait out the return window from the sale; behaviour and lifecycle points are available at
    ``at`` (the award, or its release)."""
    sale = (
        award.purchase.occurred_at
        if award.kind == Award.Kind.PURCHASE and award.purchase is not None
        else None
    )
    return EarnRequest(
        member_id=award.member_id,
        amounts={book.point_types[code]: amount for code, amount in sorted(totals.items()) if amount > 0},
        source=SOURCES[award.kind],
        source_ref=award.key,
        key=award.key,
        reason=award.reason,
        pending_from=sale,
        available_at=None if sale else at,
    )


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
    """Take back what the refunded purchase earned, in proportion to the CNY refunded so far
    (``campaigns.earning.refunds``). The purchase is awarded first if it was not yet."""
    key = f"return:{refund.pk}"  # "refund:" keys belong to the ledger (refunds of spends)
    if done := Award.objects.filter(key=key).first():
        return done
    purchase = refund.purchase
    book = book or selectors.rule_book()
    purchase_process(purchase, at=at, book=book)
    return refunds_take_back([refund], {purchase.pk: purchase}, book, at or timezone.now())[refund.pk]


def refunds_take_back(
    refunds: Sequence[Refund], purchases: dict[int, Purchase], book: selectors.RuleBook, at: datetime.datetime
) -> dict[int, Award]:
    """Refunds of awarded purchases, at most one per member (a wave of an import, or one refund):
    refund id -> its award. The one way a refund is processed, one or many.

    Locks the members, then the campaigns the purchases earned from, then (through the ledger)
    the points accounts, each in primary-key order, as purchases lock them. A held award has
    posted nothing yet (its release posts what is left after refunds): its refunds reverse
    nothing; a rejected one gave its budgets back and posted nothing at all."""
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
        awards = Award.objects.filter(key__in=[*keys.values(), *earned_keys.values()])
        # the review status of a purchase's award (None: never held) decides what its refund posts
        found = {award.key: award for award in awards.annotate(review_status=F("review__status"))}
        done: dict[int, Award] = {
            refund.pk: found[keys[refund.pk]] for refund in refunds if keys[refund.pk] in found
        }
        todo = [refund for refund in refunds if refund.pk not in done]
        if not todo:
            return done
        earned_awards = {refund.purchase_id: found[earned_keys[refund.purchase_id]] for refund in todo}
        refunded_before, earned, undone = refund_reads(earned_awards)
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
                award,
                refund,
                purchase,
                refunded_before.get(purchase.pk, Decimal(0)),
                earned[purchase.pk],
                undone[purchase.pk],
            )
            made.append((refund, award, lines))
        bulk_insert([award for _refund, award, _lines in made])
        bulk_insert([line for _refund, _award, lines in made for line in lines])
        review = {refund.pk: earned_awards[refund.purchase_id].review_status for refund, _a, _l in made}
        count_spent_in_order(
            [
                refund_given_back(lines, book)
                for refund, _award, lines in made
                if review[refund.pk] != AwardReview.Status.REJECTED
            ],
            campaigns,
        )
        reversals = [
            request
            for refund, award, lines in made
            if review[refund.pk] in (None, AwardReview.Status.RELEASED)
            for request in refund_reversals(award, earned_awards[refund.purchase_id], lines, book)
        ]
        # points that paid for the purchase come back in proportion, whatever its review
        holds_refund(
            [(refund, purchases[refund.purchase_id]) for refund, _award, _lines in made],
            locking=[(request.member_id, request.point_type) for request in reversals],
            at=at,
        )
        points_reverse_bulk(reversals, at=at)
    return {**done, **{refund.pk: award for refund, award, _lines in made}}
