"""Reads for the pipeline, preview and simulation: the rule book and a member's state and usage."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import TypeVar

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from campaigns.earning import engine
from campaigns.earning.config_at import EARNING_SETTINGS, earning_settings
from campaigns.earning.multipliers import HeldMultiplier, held_multipliers
from campaigns.models import AwardLine, BehaviourRule, Campaign, EarnRule, ReviewLimit, RiskRule
from campaigns.risk.inline import inline_rules
from campaigns.segments.models import Segment
from campaigns.segments.selectors import members_segments, segments_with_conditions
from config.common.governance import changes_after, latest_effective
from config.common.models import ConfigChange
from members.models import Member
from members.purchases.models import Purchase
from members.referrals.models import Referral
from points.models import PointType
from tiers import selectors as tier_selectors
from tiers.models import MemberTier, Subscription, Tier, TierPolicy

#: Campaigns that give to facts inside their window: running ones, and ended ones for facts
#: that arrive late (a receipt imported the day after the campaign ended still counts).
GIVING = [Campaign.Status.ACTIVE, Campaign.Status.ENDED]


@dataclass
class RuleBook:
    """Everything the engine needs that is the same for every member: loaded once per batch."""

    point_types: dict[str, PointType]
    earn_rules: list[EarnRule]
    behaviour_rules: dict[int, list[BehaviourRule]]  # event type id -> rules
    offers: list[engine.Offer]
    tiers: dict[int, Tier]
    entry_tier: Tier
    campaigns: dict[int, Campaign] = field(default_factory=dict)
    policy: TierPolicy | None = None
    review_limits: list[ReviewLimit] = field(default_factory=list)
    #: The risk rules checked as each purchase arrives (``campaigns.risk.inline``).
    risk_rules: list[RiskRule] = field(default_factory=list)
    #: Held earn-multiplier benefits: ("tier" | "plan", its id) -> what each gives.
    multipliers: dict[tuple[str, int], list[HeldMultiplier]] = field(default_factory=dict)
    #: The segments campaigns target, with their conditions: id -> segment.
    segments: dict[int, Segment] = field(default_factory=dict)
    #: The moment whose settings these are (None: the present).
    as_of: datetime.datetime | None = None
    #: When the last change to the earning settings took effect (a present book): facts before it
    #: earn by the settings of their time (``past``).
    settings_since: datetime.datetime | None = None

    @cached_property
    def _setting_changes(self) -> list[ConfigChange]:
        return changes_after(EARNING_SETTINGS, None)

    def past(self, at: datetime.datetime) -> RuleBook:
        """This book with the earning settings in effect at ``at`` (one per span between
        changes, kept with the book: an import of last month's receipts loads each span once)."""
        later = [c for c in self._setting_changes if c.effective_at is not None and c.effective_at > at]
        spans: dict[int, RuleBook] = self.__dict__.setdefault("_past", {})
        if len(later) not in spans:
            then = earning_settings(later)
            spans[len(later)] = dataclasses.replace(
                self,
                point_types=then.point_types,
                earn_rules=then.earn_rules,
                behaviour_rules=then.behaviour_rules,
                tiers={tier.pk: tier for tier in then.tiers},
                entry_tier=then.tiers[0],
                review_limits=then.review_limits,
                as_of=at,
                settings_since=None,
            )
        return spans[len(later)]

    @cached_property
    def uses_plans(self) -> bool:
        """Whether a paid plan holds an earn multiplier (else members' subscriptions are not read)."""
        return any(kind == "plan" for kind, _pk in self.multipliers)

    # What the facts must be read with: skipped when no rule or campaign looks at it.
    @cached_property
    def uses_tags(self) -> bool:
        return any(offer.tag_ids for offer in self.offers)

    @cached_property
    def uses_first_purchase(self) -> bool:
        return any(offer.first_purchase for offer in self.offers)

    @cached_property
    def uses_referrals(self) -> bool:
        """A campaign rewards referrers: a referee's first purchase locks and rewards its referrer."""
        return any(offer.trigger == Campaign.Trigger.REFERRAL for offer in self.offers)

    @cached_property
    def uses_referred(self) -> bool:
        """A campaign is for referred members only: whether a member was referred is read."""
        return any(offer.referred_only for offer in self.offers)

    @cached_property
    def uses_lines(self) -> bool:
        return any(offer.by_product for offer in self.offers) or any(
            rule.excluded_categories or rule.excluded_skus for rule in self.earn_rules
        )

    def offer(self, pk: int) -> engine.Offer:
        return next(offer for offer in self.offers if offer.id == pk)

    def base_for(self, channel: str, store_id: int | None) -> list[engine.BaseRule]:
        """Per point type, the most specific active rule: the store's, else the channel's, else default."""
        best = most_specific(self.earn_rules, channel, store_id)
        return [
            engine.BaseRule(
                point_type=rule.point_type.code,
                rate=rule.rate,
                rounding=rule.rounding,
                excluded_categories=frozenset(rule.excluded_categories),
                excluded_skus=frozenset(rule.excluded_skus),
                multiplied=rule.point_type.redeemable,
            )
            for rule in best
        ]

    def review_limits_for(self, channel: str, store_id: int | None) -> dict[str, int]:
        """{point type code: the limit above which an award waits for review}, for a fact of
        this channel and store (the most specific active limit, as for earning rules)."""
        return {
            limit.point_type.code: limit.above
            for limit in most_specific(self.review_limits, channel, store_id)
        }


Scoped = TypeVar("Scoped", EarnRule, ReviewLimit)


def most_specific(rules: Iterable[Scoped], channel: str, store_id: int | None) -> list[Scoped]:
    """Per point type, in point type order, the rule that applies to a fact of this channel and
    store: a store's rule beats its channel's, which beats the default (no channel, no store)."""
    best: dict[int, tuple[int, Scoped]] = {}
    for rule in rules:
        if rule.store_id is not None and rule.store_id != store_id:
            continue
        if rule.channel and rule.channel != channel:
            continue
        rank = 2 if rule.store_id is not None else 1 if rule.channel else 0
        if rule.point_type_id not in best or best[rule.point_type_id][0] < rank:
            best[rule.point_type_id] = (rank, rule)
    return [rule for _rank, rule in sorted(best.values(), key=lambda item: item[1].point_type_id)]


def offer_of(campaign: Campaign, points: PointType | None) -> engine.Offer:
    """The engine's view of a campaign (its many-to-many ids must be prefetched)."""
    return engine.Offer(
        id=campaign.pk,
        name=campaign.name,
        trigger=campaign.trigger,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        event_type_id=campaign.event_type_id,
        upgrade_rank=campaign.upgrade_tier.rank if campaign.upgrade_tier else None,
        channels=frozenset(campaign.channels),
        store_ids=frozenset(s.pk for s in campaign.stores.all()),
        tier_ids=frozenset(t.pk for t in campaign.tiers.all()),
        tag_ids=frozenset(t.pk for t in campaign.tags.all()),
        segment_id=campaign.segment_id,
        new_member_days=campaign.new_member_days,
        first_purchase=campaign.first_purchase,
        referred_only=campaign.referred_only,
        min_paid=campaign.min_paid,
        categories=frozenset(campaign.categories),
        skus=frozenset(campaign.skus),
        weekdays=frozenset(int(day) for day in campaign.weekdays),
        hour_from=campaign.hour_from,
        hour_to=campaign.hour_to,
        birthday=campaign.birthday,
        multiplier=campaign.multiplier,
        bonus_points=campaign.bonus_points,
        points_per_cny=campaign.points_per_cny,
        growth=campaign.growth,
        benefit_id=campaign.benefit_id,
        member_max_times=campaign.member_max_times,
        member_max_points=campaign.member_max_points,
        member_daily_points=campaign.member_daily_points,
        budgeted=campaign.budget_points is not None or campaign.budget_cny is not None,
        exclusive=campaign.exclusive,
        priority=campaign.priority,
        holdout_percent=campaign.holdout_percent,
        cny_value=points.cny_value if points else Decimal(0),
    )


def campaigns_with_details() -> QuerySet[Campaign]:
    return Campaign.objects.select_related("upgrade_tier", "benefit").prefetch_related(
        "stores", "tiers", "tags"
    )


def rule_book(
    *, extra: Iterable[Campaign] = (), live: bool = True, at: datetime.datetime | None = None
) -> RuleBook:
    """Load the rules. ``live=False`` leaves the live campaigns out (a simulation of one draft).
    ``at``: the settings in effect then (``config_at``); default: now."""
    later = changes_after(EARNING_SETTINGS, at) if at is not None else []
    now = earning_settings(later)
    campaigns = list(campaigns_with_details().filter(status__in=GIVING)) if live else []
    campaigns += list(extra)
    return RuleBook(
        multipliers=held_multipliers(),
        point_types=now.point_types,
        earn_rules=now.earn_rules,
        behaviour_rules=now.behaviour_rules,
        offers=[offer_of(c, now.point_types.get(engine.POINTS)) for c in campaigns],
        tiers={tier.pk: tier for tier in now.tiers},
        entry_tier=now.tiers[0],
        campaigns={c.pk: c for c in campaigns},
        policy=TierPolicy.current(),
        review_limits=now.review_limits,
        risk_rules=inline_rules(),
        segments=_targeted_segments(campaigns),
        as_of=at,
        settings_since=latest_effective(EARNING_SETTINGS) if at is None else None,
    )


def book_at(book: RuleBook, at: datetime.datetime) -> RuleBook:
    """The book to earn a fact of time ``at`` by: ``book``, unless an earning setting changed
    after ``at`` (a late fact): then the same book with the settings of that time."""
    if book.as_of is not None or book.settings_since is None or at >= book.settings_since:
        return book
    return book.past(at)


def _targeted_segments(campaigns: list[Campaign]) -> dict[int, Segment]:
    ids = {c.segment_id for c in campaigns if c.segment_id is not None}
    return {s.pk: s for s in segments_with_conditions().filter(pk__in=ids)} if ids else {}


_cached: tuple[float, RuleBook] | None = None


def recent_rule_book() -> RuleBook:
    """The live rule book, loaded at most every ``RULE_BOOK_CACHE_SECONDS`` per process.

    For the API, where loading it was a sixth of a purchase's time. A change of rules or
    campaigns reaches each web process within that many seconds; budgets and caps are not
    affected (they are counted under lock from the database, whatever the book says).
    """
    global _cached
    ttl = settings.RULE_BOOK_CACHE_SECONDS
    now = time.monotonic()
    if ttl <= 0:
        return rule_book()
    if _cached is None or now - _cached[0] >= ttl:
        _cached = (now, rule_book())
    return _cached[1]


def member_state(
    member: Member,
    book: RuleBook,
    at: datetime.datetime,
    *,
    first_purchase: bool = False,
    fact: engine.Fact | None = None,
    referred: bool | None = None,
) -> engine.MemberState:
    """The member as the engine sees them at ``at``: effective tier, tags, registration, birthday;
    with ``fact``, also the targeted segments that decide something for it (``with_segments``).
    ``referred``: whether a referrer brought them in, when the caller read it (the pipeline, with
    the member's lock); else read here, only if a campaign is for referred members."""
    status = MemberTier.objects.filter(member=member).first()
    tags = frozenset(member.tags.values_list("pk", flat=True)) if book.uses_tags else frozenset()
    plans = tuple(_subscriptions([member.pk], book).get(member.pk, ()))
    if referred is None:
        referred = book.uses_referred and Referral.objects.filter(referee_id=member.pk).exists()
    state = _state(member, status, tags, plans, book, at, first_purchase, referred)
    return with_segments([(fact, state)], book)[0] if fact is not None else state


def with_segments(
    cases: list[tuple[engine.Fact, engine.MemberState]],
    book: RuleBook,
    *,
    at: datetime.datetime | None = None,
    offers: list[engine.Offer] | None = None,
) -> list[engine.MemberState]:
    """The states of ``cases`` with the targeted segments each member is in. Read once per segment
    for all the members whose fact a campaign on that segment could reward
    (``engine.segments_to_read``), as of ``at``, default the earliest fact's time: a single fact
    is judged as of its own time; a wave or a chunk as of its first fact (a purchase earlier in
    the same chunk does not move a member into or out of a segment for a later one)."""
    if not book.segments:
        return [state for _fact, state in cases]
    members: dict[int, set[int]] = {}  # segment -> the members to ask about
    for fact, state in cases:
        for segment_id in engine.segments_to_read(book.offers if offers is None else offers, fact, state):
            members.setdefault(segment_id, set()).add(state.id)
    if not members:
        return [state for _fact, state in cases]
    at = at or min(fact.at for fact, _state in cases)
    found: dict[int, set[int]] = {}
    for segment_id, ids in sorted(members.items()):
        for member_id, segment_ids in members_segments([book.segments[segment_id]], ids, at=at).items():
            found.setdefault(member_id, set()).update(segment_ids)
    return [
        dataclasses.replace(state, segment_ids=frozenset(found.get(state.id, ()))) for _fact, state in cases
    ]


def member_states(members: list[Member], book: RuleBook) -> dict[int, Callable[..., engine.MemberState]]:
    """``member_state`` for many members with one query per table: member id -> a function of
    (at, first_purchase) giving the state, since each fact has its own time."""
    ids = [member.pk for member in members]
    statuses = {status.member_id: status for status in MemberTier.objects.filter(member_id__in=ids)}
    tags: dict[int, set[int]] = {}
    if book.uses_tags:
        for member_id, tag_id in Member.tags.through.objects.filter(member_id__in=ids).values_list(
            "member_id", "tag_id"
        ):
            tags.setdefault(member_id, set()).add(tag_id)
    plans = _subscriptions(ids, book)
    return {
        member.pk: functools.partial(
            _state,
            member,
            statuses.get(member.pk),
            frozenset(tags.get(member.pk, ())),
            tuple(plans.get(member.pk, ())),
            book,
        )
        for member in members
    }


#: A member's subscription as the multiplier needs it: (plan id, starts at, ends at).
PlanPeriod = tuple[int, datetime.datetime, datetime.datetime]


def _subscriptions(member_ids: list[int], book: RuleBook) -> dict[int, list[PlanPeriod]]:
    """The running or paid-ahead subscription periods of these members, read only when a plan holds an
    earn multiplier; which one runs is decided per fact's time (``tiers.subscriptions.running``)."""
    if not book.uses_plans:
        return {}
    periods: dict[int, list[PlanPeriod]] = {}
    rows = Subscription.objects.filter(member_id__in=member_ids, status=Subscription.Status.ACTIVE)
    for member_id, plan_id, starts_at, ends_at in rows.values_list(
        "member_id", "plan_id", "starts_at", "ends_at"
    ):
        periods.setdefault(member_id, []).append((plan_id, starts_at, ends_at))
    return periods


def _state(
    member: Member,
    status: MemberTier | None,
    tag_ids: frozenset[int],
    plans: tuple[PlanPeriod, ...],
    book: RuleBook,
    at: datetime.datetime,
    first_purchase: bool = False,
    referred: bool = False,
) -> engine.MemberState:
    tier = tier_selectors.effective(status, at, book.tiers)[0] if status else book.entry_tier
    multiplier, benefit, holder = _multiplier(member, tier, plans, book, at)
    return engine.MemberState(
        id=member.pk,
        registered_at=member.created_at,
        tier_id=tier.pk,
        tier_name=tier.name,
        tier_rank=tier.rank,
        multiplier=multiplier,
        multiplier_benefit=benefit,
        multiplier_holder=holder,
        tag_ids=tag_ids,
        birthday=member.birthday,
        first_purchase=first_purchase,
        referred=referred,
    )


def _multiplier(
    member: Member, tier: Tier, plans: tuple[PlanPeriod, ...], book: RuleBook, at: datetime.datetime
) -> tuple[Decimal, str, str]:
    """The member's earn multiplier at ``at`` and where it comes from (benefit, holder; "" for
    the tier's own): the highest of the tier's ``earn_multiplier``, the earn-multiplier benefits
    of the effective tier and of every paid plan running at ``at``. The highest applies (they do
    not multiply each other): a 金卡 ×1.5 member on a ×2 plan earns ×2, and a tier given the same
    multiplier twice (field and benefit) is not counted twice. A benefit entitled per birthday
    month applies in the member's birthday month only."""
    best = (tier.earn_multiplier, "", "")
    held = list(book.multipliers.get(("tier", tier.pk), ()))
    for plan_id, starts_at, ends_at in plans:
        if starts_at <= at < ends_at:
            held += book.multipliers.get(("plan", plan_id), ())
    month = timezone.localtime(at).month
    for item in held:
        if item.birthday_month and (member.birthday is None or member.birthday.month != month):
            continue
        if item.value > best[0]:
            best = (item.value, item.benefit, item.holder)
    return best


def is_first_purchase(member_id: int, at: datetime.datetime, *, purchase_id: int | None = None) -> bool:
    """Whether a purchase of the member at ``at`` is their first purchase, for first-purchase campaigns.

    The first purchase is the earliest by when it happened, whenever it arrived, and whether it
    is dated before the member enrolled or not (a POS import enrols the buyer after the sale;
    an old CRM's history is real purchases). It is given once: a back-dated purchase that
    arrives after a later-dated one already earned a first-purchase campaign (points or a
    coupon) is not first, so the gift is never given twice. ``purchase_id`` is the purchase's
    own id (ties in time go to the lower id); None for a basket not yet recorded (a preview:
    only purchases strictly before ``at`` come before it). The pipeline asks under the
    member's lock, so two purchases processed at once cannot both be first.
    """
    earlier = Purchase.objects.filter(member_id=member_id, occurred_at__lt=at)
    if purchase_id is not None:
        earlier |= Purchase.objects.filter(member_id=member_id, occurred_at=at, pk__lt=purchase_id)
    if earlier.exists():
        return False
    given = AwardLine.objects.filter(
        member_id=member_id, kind=AwardLine.Kind.CAMPAIGN, campaign__first_purchase=True
    ).filter(Q(amount__gt=0) | Q(coupon__isnull=False))  # refunds' lines are negative: still given
    return not given.exists()


def purchase_fact(purchase: Purchase, *, lines: bool = True) -> engine.Fact:
    """The engine's view of a purchase; ``lines=False`` leaves the basket unread (nothing uses it)."""
    basket = tuple(
        engine.BasketLine(sku=line.sku, amount=line.amount, category=line.category)
        for line in (purchase.lines.all() if lines else ())
    )
    return engine.Fact(
        triggers=frozenset({Campaign.Trigger.PURCHASE}),
        at=purchase.occurred_at,
        local=timezone.localtime(purchase.occurred_at),
        channel=purchase.channel,
        store_id=purchase.store_id,
        paid=purchase.paid_amount,
        eligible=purchase.eligible_amount,
        lines=basket,
    )


# --- the partner API: what an award gave, explained ------------------------------------------


def member_tier(member: Member, at: datetime.datetime | None = None) -> Tier | None:
    """The tier the member has at ``at`` (override, paid plan or earned); None before any evaluation."""
    status = (
        MemberTier.objects.select_related("tier", "earned_tier", "override_tier", "plan_tier")
        .filter(member=member)
        .first()
    )
    if status is None:
        return None
    tiers = {t.pk: t for t in (status.tier, status.earned_tier, status.override_tier, status.plan_tier) if t}
    return tier_selectors.effective(status, at or timezone.now(), tiers)[0]
