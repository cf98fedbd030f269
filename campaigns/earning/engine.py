"""The rules engine: a pure function from (fact, member state, rules, campaigns, usage) to lines.

Nothing here reads or writes the database or the clock, so the same code gives the pipeline's
award, a checkout preview and a campaign simulation, and its answers can be tested exhaustively.
The pipeline gathers the inputs (``campaigns.selectors``) and posts the outcome.

Order of work for one fact:

1. Base lines: per point type, eligible CNY x rate, rounded per rule (purchases); or the
   behaviour rule's amount within its cap (events).
2. Tier line: the member's multiplier on the base points of redeemable point types: the
   highest of the tier's own and the earn-multiplier benefits their tier or running paid plans
   hold (they do not multiply each other); the line names the benefit and its holder.
3. Campaign lines, highest priority first. A campaign that matches but holds the member out
   (control group) gives nothing and is skipped as if it did not exist. An exclusive campaign
   applies only if nothing applied before it, and then nothing after it applies. Caps and
   budget shrink what a campaign gives; a campaign left with nothing to give does not apply.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

ZERO = Decimal(0)
ROUNDINGS = {"floor": ROUND_FLOOR, "half_up": ROUND_HALF_UP, "ceiling": ROUND_CEILING}
POINTS, GROWTH = "points", "growth"


def plain(number: Decimal) -> str:
    """1.50 -> "1.5", 10 -> "10" (``normalize`` alone writes 1E+1)."""
    return format(number.normalize(), "f")


def to_points(value: Decimal, rounding: str = "floor") -> int:
    return int(value.quantize(Decimal(1), rounding=ROUNDINGS[rounding]))


@dataclass(frozen=True)
class BasketLine:
    sku: str
    amount: Decimal
    category: str = ""


@dataclass(frozen=True)
class Fact:
    """What happened. ``local`` is ``at`` in the programme's time zone (weekdays, hours, birthdays)."""

    triggers: frozenset[str]  # a registration event is both "event" and "registration"
    at: datetime.datetime
    local: datetime.datetime
    channel: str = ""
    store_id: int | None = None
    paid: Decimal = ZERO
    eligible: Decimal = ZERO
    lines: tuple[BasketLine, ...] = ()
    event_type_id: int | None = None
    upgrade_rank: int | None = None


@dataclass(frozen=True)
class MemberState:
    id: int
    registered_at: datetime.datetime
    tier_id: int | None = None
    tier_name: str = ""
    tier_rank: int = 0
    multiplier: Decimal = Decimal(1)  # the highest the member holds: tier's own, or a benefit's
    multiplier_benefit: str = ""  # the earn-multiplier benefit that gives it ("" = the tier's own)
    multiplier_holder: str = ""  # the tier or paid plan that holds that benefit
    tag_ids: frozenset[int] = frozenset()
    birthday: datetime.date | None = None
    first_purchase: bool = False
    referred: bool = False  # a referrer brought the member in (read only when a campaign asks)
    #: the targeted segments the member is in (only those of campaigns that may apply are read)
    segment_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class BaseRule:
    point_type: str
    rate: Decimal
    rounding: str = "floor"
    excluded_categories: frozenset[str] = frozenset()
    excluded_skus: frozenset[str] = frozenset()
    multiplied: bool = True  # the tier multiplier applies (redeemable point types)

    def eligible(self, fact: Fact) -> Decimal:
        excluded = sum(
            (
                line.amount
                for line in fact.lines
                if line.category in self.excluded_categories or line.sku in self.excluded_skus
            ),
            ZERO,
        )
        return max(fact.eligible - excluded, ZERO)


@dataclass(frozen=True)
class BehaviourRate:
    point_type: str
    amount: int
    event_name: str
    cap: int | None = None
    period: str = "day"
    used: int = 0  # times already given in the current period


@dataclass(frozen=True)
class Offer:
    """A live campaign as the engine sees it."""

    id: int
    name: str
    trigger: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    event_type_id: int | None = None
    upgrade_rank: int | None = None
    channels: frozenset[str] = frozenset()
    store_ids: frozenset[int] = frozenset()
    tier_ids: frozenset[int] = frozenset()
    tag_ids: frozenset[int] = frozenset()
    segment_id: int | None = None
    new_member_days: int | None = None
    first_purchase: bool = False
    referred_only: bool = False
    min_paid: Decimal | None = None
    categories: frozenset[str] = frozenset()
    skus: frozenset[str] = frozenset()
    weekdays: frozenset[int] = frozenset()
    hour_from: int | None = None
    hour_to: int | None = None
    birthday: str = ""
    multiplier: Decimal | None = None
    bonus_points: int = 0
    points_per_cny: Decimal | None = None
    growth: int = 0
    benefit_id: int | None = None
    member_max_times: int | None = None
    member_max_points: int | None = None
    member_daily_points: int | None = None
    budgeted: bool = False
    exclusive: bool = False
    priority: int = 0
    holdout_percent: int = 0
    cny_value: Decimal = ZERO  # of one point, for the CNY budget and cost

    @property
    def by_product(self) -> bool:
        return bool(self.categories or self.skus)

    def matching_amount(self, fact: Fact) -> Decimal:
        """The CNY the per-CNY effects count: the matching lines, or the whole eligible amount."""
        if not self.by_product:
            return fact.eligible
        amount = sum(
            (ln.amount for ln in fact.lines if ln.category in self.categories or ln.sku in self.skus), ZERO
        )
        return min(amount, fact.eligible)


@dataclass
class Usage:
    """What a campaign already gave this member, and what is left of its budget (None: no limit)."""

    times: int = 0
    points: int = 0
    points_today: int = 0
    budget_points_left: int | None = None
    budget_cny_left: Decimal | None = None


@dataclass(frozen=True)
class Line:
    kind: str  # base, tier, campaign, behaviour (AwardLine.Kind)
    point_type: str | None
    amount: int
    campaign_id: int | None = None
    cny: Decimal = ZERO
    params: Mapping[str, object] = field(default_factory=dict)


@dataclass
class Outcome:
    lines: list[Line] = field(default_factory=list)
    coupons: list[tuple[int, int]] = field(default_factory=list)  # (campaign id, benefit id)
    targeted: dict[int, bool] = field(default_factory=dict)  # campaign id -> held out (control)
    matched: list[int] = field(default_factory=list)  # every campaign whose conditions held

    def total(self, point_type: str) -> int:
        return sum(line.amount for line in self.lines if line.point_type == point_type)

    def totals(self) -> dict[str, int]:
        """{point type code: points}, of the types the lines give."""
        totals: dict[str, int] = {}
        for line in self.lines:
            if line.point_type:
                totals[line.point_type] = totals.get(line.point_type, 0) + line.amount
        return totals

    def over(self, limits: Mapping[str, int]) -> dict[str, int]:
        """{point type code: limit} of the limits this outcome goes above (a review hold)."""
        totals = self.totals()
        return {code: limit for code, limit in limits.items() if totals.get(code, 0) > limit}

    def campaign_points(self, campaign_id: int, point_type: str = POINTS) -> int:
        return sum(
            ln.amount for ln in self.lines if ln.campaign_id == campaign_id and ln.point_type == point_type
        )


def in_control(campaign_id: int | str, member_id: int, percent: int) -> bool:
    """Stable per (campaign, member): the same member is always in or out of one campaign's control group."""
    if percent <= 0:
        return False
    digest = hashlib.sha256(f"{campaign_id}:{member_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 < percent * 100


def _birthday_matches(mode: str, birthday: datetime.date | None, day: datetime.date) -> bool:
    if not mode:
        return True
    if birthday is None:
        return False
    if mode == "month":
        return birthday.month == day.month
    if (birthday.month, birthday.day) == (2, 29) and not _leap(day.year):
        return (day.month, day.day) == (2, 28)  # a 29 February birthday is kept on the 28th
    return (birthday.month, birthday.day) == (day.month, day.day)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def applies(offer: Offer, fact: Fact, member: MemberState) -> bool:
    """Trigger, window and every condition of ``offer`` hold for this fact and member."""
    if offer.trigger not in fact.triggers or not (offer.starts_at <= fact.at < offer.ends_at):
        return False
    if offer.event_type_id is not None and offer.event_type_id != fact.event_type_id:
        return False
    if offer.upgrade_rank is not None and (fact.upgrade_rank or 0) < offer.upgrade_rank:
        return False
    checks = (
        not offer.channels or fact.channel in offer.channels,
        not offer.store_ids or fact.store_id in offer.store_ids,
        not offer.tier_ids or member.tier_id in offer.tier_ids,
        not offer.tag_ids or bool(offer.tag_ids & member.tag_ids),
        offer.segment_id is None or offer.segment_id in member.segment_ids,
        offer.new_member_days is None
        or fact.at - member.registered_at <= datetime.timedelta(days=offer.new_member_days),
        not offer.first_purchase or member.first_purchase,
        not offer.referred_only or member.referred,
        offer.min_paid is None or fact.paid >= offer.min_paid,
        not offer.by_product
        or any(ln.category in offer.categories or ln.sku in offer.skus for ln in fact.lines),
        not offer.weekdays or fact.local.isoweekday() in offer.weekdays,
        _hour_matches(offer, fact.local.hour),
        _birthday_matches(offer.birthday, member.birthday, fact.local.date()),
    )
    return all(checks)


def segments_to_read(offers: Iterable[Offer], fact: Fact, member: MemberState) -> set[int]:
    """The segments whose membership decides something for this fact: those of the campaigns that
    would apply if the member were in every segment. The callers read only these (a campaign for
    another channel or outside its window costs no segment query)."""
    targeted = {offer.segment_id for offer in offers if offer.segment_id is not None}
    if not targeted:
        return set()
    anywhere = dataclasses.replace(member, segment_ids=frozenset(targeted))
    return {
        offer.segment_id
        for offer in offers
        if offer.segment_id is not None and applies(offer, fact, anywhere)
    }


def _hour_matches(offer: Offer, hour: int) -> bool:
    start = 0 if offer.hour_from is None else offer.hour_from
    end = 24 if offer.hour_to is None else offer.hour_to
    if start <= end:
        return start <= hour < end
    return hour >= start or hour < end  # 22 to 2: across midnight


def evaluate(
    fact: Fact,
    member: MemberState,
    *,
    base: Iterable[BaseRule] = (),
    behaviour: Iterable[BehaviourRate] = (),
    offers: Iterable[Offer] = (),
    usage: Mapping[int, Usage] | None = None,
) -> Outcome:
    outcome = Outcome()
    base_points: dict[str, int] = {}  # before the tier multiplier, what a campaign multiplier multiplies
    for rule in base:
        eligible = rule.eligible(fact)
        points = to_points(eligible * rule.rate, rule.rounding)
        base_points[rule.point_type] = base_points.get(rule.point_type, 0) + points
        params: dict[str, object] = {
            "rate": plain(rule.rate),
            "rounding": rule.rounding,
            "eligible": str(eligible),
        }
        outcome.lines.append(Line("base", rule.point_type, points, params=params))
    for rate in behaviour:
        capped = rate.cap is not None and rate.used >= rate.cap
        points = 0 if capped else rate.amount
        base_points[rate.point_type] = base_points.get(rate.point_type, 0) + points
        params = {"event": rate.event_name, "cap": rate.cap, "period": rate.period, "capped": capped}
        outcome.lines.append(Line("behaviour", rate.point_type, points, params=params))
    if member.multiplier != 1:
        for rule in base:
            if rule.multiplied and base_points.get(rule.point_type):
                extra = to_points(base_points[rule.point_type] * (member.multiplier - 1))
                if extra:
                    params = {"tier": member.tier_name, "multiplier": plain(member.multiplier)}
                    if member.multiplier_benefit:  # the member page says which benefit of what
                        params |= {"tier": member.multiplier_holder, "benefit": member.multiplier_benefit}
                    outcome.lines.append(Line("tier", rule.point_type, extra, params=params))
    _campaigns(outcome, fact, member, base, behaviour, offers, usage or {})
    return outcome


def _campaigns(outcome, fact, member, base, behaviour, offers, usage) -> None:
    rates = {rule.point_type: rule for rule in base}
    exclusive_taken = applied_any = False
    for offer in sorted(offers, key=lambda o: (-o.priority, o.id)):
        if not applies(offer, fact, member):
            continue
        outcome.matched.append(offer.id)
        if in_control(offer.id, member.id, offer.holdout_percent):
            outcome.targeted[offer.id] = True
            continue
        if exclusive_taken or (offer.exclusive and applied_any):
            continue
        used = usage.get(offer.id) or Usage()
        lines = _give(offer, fact, rates, behaviour, used)
        if lines is None or (not lines and offer.benefit_id is None):
            continue
        outcome.lines.extend(lines)
        if offer.benefit_id is not None:
            outcome.coupons.append((offer.id, offer.benefit_id))
        outcome.targeted[offer.id] = False
        applied_any = True
        exclusive_taken = offer.exclusive


def _give(offer: Offer, fact: Fact, rates: dict[str, BaseRule], behaviour, used: Usage) -> list[Line] | None:
    """The campaign's lines after caps and budget; None when it may give nothing more (no coupon either)."""
    if offer.member_max_times is not None and used.times >= offer.member_max_times:
        return None
    if used.budget_points_left is not None and used.budget_points_left <= 0:
        return None
    if used.budget_cny_left is not None and used.budget_cny_left <= 0:
        return None
    parts: dict[str, int] = {}
    amount = offer.matching_amount(fact)
    if offer.multiplier is not None and offer.multiplier > 1:
        rule = rates.get(POINTS)
        if rule is not None:
            basis = to_points(amount * rule.rate, rule.rounding) if offer.by_product else None
            if basis is None:
                basis = to_points(rule.eligible(fact) * rule.rate, rule.rounding)
        else:  # a behaviour event: its points are the base
            basis = sum(
                r.amount
                for r in behaviour
                if r.point_type == POINTS and not (r.cap is not None and r.used >= r.cap)
            )
        parts["multiplier"] = to_points(basis * (offer.multiplier - 1))
    if offer.points_per_cny:
        parts["per_cny"] = to_points(amount * offer.points_per_cny)
    if offer.bonus_points:
        parts["bonus"] = offer.bonus_points
    wanted = sum(parts.values())
    limits = {
        "member": None if offer.member_max_points is None else offer.member_max_points - used.points,
        "day": None if offer.member_daily_points is None else offer.member_daily_points - used.points_today,
        "budget": used.budget_points_left,
        "budget_cny": None
        if used.budget_cny_left is None or not offer.cny_value
        else to_points(used.budget_cny_left / offer.cny_value),
    }
    points, capped_by = wanted, ""
    for name, left in limits.items():
        if left is not None and max(left, 0) < points:
            points, capped_by = max(left, 0), name
    lines: list[Line] = []
    if points:
        params = {"campaign": offer.name, "parts": parts, "capped": capped_by, "wanted": wanted}
        lines.append(Line("campaign", POINTS, points, offer.id, cny=points * offer.cny_value, params=params))
    if offer.growth:
        lines.append(Line("campaign", GROWTH, offer.growth, offer.id, params={"campaign": offer.name}))
    return lines
