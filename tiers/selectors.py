"""Reads: the ladder, qualifying values, and a member's tier progress (the path upwards)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db.models import (
    Aggregate,
    Count,
    DateTimeField,
    DecimalField,
    Expression,
    ExpressionWrapper,
    F,
    Field,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from members.models import Member
from members.purchases.models import Purchase
from points.models import Entry
from points.policy import last_valid_day
from tiers import periods
from tiers.models import MemberTier, Source, Tier, TierPolicy

#: Growth that counts toward a tier: what was earned, less what was reversed (refunds) or
#: adjusted. Expiry of growth value does not take a tier away mid-period.
# An opening balance of growth is the qualifying value an old system had counted (tiers' migration).
QUALIFYING_KINDS = [Entry.Kind.EARN, Entry.Kind.REVERSE, Entry.Kind.ADJUST, Entry.Kind.OPENING]
GROWTH = "growth"


def ladder() -> list[Tier]:
    tiers = list(Tier.objects.order_by("rank"))
    if not tiers or tiers[0].rank != 0:
        raise Tier.DoesNotExist("no entry tier (rank 0) is configured")
    return tiers


def ladder_errors(tier: Tier, tiers: list[Tier]) -> dict[str, str]:
    """What is wrong with ``tier`` (unsaved values) in the ladder of ``tiers`` (the others as
    stored): a higher rank must need a strictly higher threshold, or the lower tier could never
    be reached (``qualified_for`` gives the highest tier reached). {} when it fits."""
    others = [other for other in tiers if other.pk != tier.pk or tier.pk is None]
    below = [o for o in others if o.rank < tier.rank and o.threshold >= tier.threshold]
    above = [o for o in others if o.rank > tier.rank and o.threshold <= tier.threshold]
    if below:
        other, message = max(below, key=lambda o: o.rank), _not_above_lower()
    elif above:
        other, message = min(above, key=lambda o: o.rank), _not_below_higher()
    else:
        return {}
    values = {
        "tier": tier.name,
        "threshold": f"{tier.threshold:,}",
        "other": other.name,
        "other_threshold": f"{other.threshold:,}",
    }
    why = _("A higher tier needs a higher threshold.")
    return {"threshold": f"{message % values} {why}"}


def _not_above_lower() -> str:
    return _("%(tier)s at %(threshold)s is not above %(other)s at %(other_threshold)s, the tier below it.")


def _not_below_higher() -> str:
    return _("%(tier)s at %(threshold)s is not below %(other)s at %(other_threshold)s, the tier above it.")


def qualified_for(tiers: list[Tier], value: int) -> Tier:
    """The highest tier whose threshold ``value`` reaches (the entry tier at least)."""
    best = tiers[0]
    for tier in tiers:
        if tier.threshold <= value:
            best = tier
    return best


def growth_entries() -> QuerySet[Entry]:
    return Entry.objects.filter(account__point_type__code=GROWTH, kind__in=QUALIFYING_KINDS).order_by()


def growth_between(member_id: int, start: datetime.datetime, end: datetime.datetime) -> int:
    """Qualifying growth of one member in ``[start, end)``."""
    total = (
        growth_entries()
        .filter(account__member_id__in=_member_and_absorbed(member_id))
        .filter(created_at__gte=start, created_at__lt=end)
        .aggregate(total=Sum("amount"))["total"]
    )
    return total or 0


def _member_and_absorbed(member_id: int) -> QuerySet[Member, Any]:
    """The member and those merged into it: what they earned counts toward its tier (their growth
    entries stay on their own accounts, with their dates). A subquery: no query of its own."""
    return Member.objects.filter(Q(pk=member_id) | Q(merged_into_id=member_id)).values("pk")


def qualifying_between(
    policy: TierPolicy, member_id: int, start: datetime.datetime, end: datetime.datetime
) -> int:
    """What counts toward a tier, per the policy's metric, for one member in ``[start, end)``."""
    if policy.metric == TierPolicy.Metric.GROWTH:
        return growth_between(member_id, start, end)
    purchases = Purchase.objects.filter(member_id=member_id, occurred_at__gte=start, occurred_at__lt=end)
    if policy.metric == TierPolicy.Metric.SPEND:
        spent = purchases.aggregate(total=Sum(F("paid_amount") - F("refunded_amount")))["total"]
        return int(spent or 0)
    return purchases.exclude(status=Purchase.Status.REFUNDED).count()


def review_value(policy: TierPolicy, grace: datetime.timedelta) -> Expression:
    """Per-row annotation for ``MemberTier`` querysets: the metric over the period under review,
    ``[period_start, valid_until + grace)``."""
    if policy.metric == TierPolicy.Metric.GROWTH:
        return review_growth(grace)
    purchases = Purchase.objects.filter(
        member_id=OuterRef("member_id"),
        occurred_at__gte=OuterRef("period_start"),
        occurred_at__lt=ExpressionWrapper(OuterRef("valid_until") + grace, output_field=DateTimeField()),
    ).order_by()
    total: Aggregate
    kind: Field[Any, Any]
    if policy.metric == TierPolicy.Metric.SPEND:
        total, kind = (
            Sum(F("paid_amount") - F("refunded_amount")),
            DecimalField(max_digits=14, decimal_places=2),
        )
    else:
        purchases = purchases.exclude(status=Purchase.Status.REFUNDED)
        total, kind = Count("pk"), IntegerField()
    per_member = purchases.values("member_id").annotate(total=total).values("total")
    return Coalesce(Subquery(per_member), 0, output_field=kind)


def review_growth(grace: datetime.timedelta) -> Expression:
    """Per-row annotation for ``MemberTier`` querysets: growth in the period under review,
    ``[period_start, valid_until + grace)``. One correlated sum per row, on the entry index."""
    window = {
        "created_at__gte": OuterRef("period_start"),
        "created_at__lt": ExpressionWrapper(OuterRef("valid_until") + grace, output_field=DateTimeField()),
    }
    per_member = (
        growth_entries()
        .filter(account__member_id=OuterRef("member_id"), **window)
        .values("account__member_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    # members merged into this one (``_member_and_absorbed``): a probe of a partial index, mostly empty
    merged = (
        growth_entries()
        .filter(account__member__merged_into=OuterRef("member_id"), **window)
        .values("account__member__merged_into")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return Coalesce(Subquery(per_member), 0) + Coalesce(Subquery(merged), 0)


def effective(status: MemberTier, at: datetime.datetime, tiers: dict[int, Tier]) -> tuple[Tier, str]:
    """The tier a member has at ``at`` from the three grants (see tiers/models.py)."""
    if status.override_tier_id and status.override_until and status.override_until > at:
        return tiers[status.override_tier_id], Source.OVERRIDE
    earned = tiers[status.earned_tier_id]
    if status.plan_tier_id and status.plan_until and status.plan_until > at:
        plan = tiers[status.plan_tier_id]
        if plan.rank > earned.rank:
            return plan, Source.PLAN
    return earned, Source.EARNED


@dataclass(frozen=True)
class Progress:
    """What a member has and the path from here, in numbers and in words for the member page."""

    tier: Tier
    source: str
    since: datetime.datetime
    earned_tier: Tier
    period_start: datetime.datetime
    review_at: datetime.datetime  # when the earned tier is next reviewed (period end + grace)
    in_grace: bool
    growth_in_period: int  # counts toward keeping the earned tier at the review
    growth_in_window: int  # counts toward the next tier now (differs for a rolling window)
    next_tier: Tier | None
    needed_for_next: int
    keeps: bool
    review_tier: Tier  # the earned tier after the review if nothing more is earned
    needed_to_keep: int
    override_until: datetime.datetime | None
    plan_until: datetime.datetime | None
    metric: str = TierPolicy.Metric.GROWTH

    @property
    def unit(self) -> str:
        units: dict[str, str] = {
            TierPolicy.Metric.SPEND: pgettext("unit", "CNY of spending"),
            TierPolicy.Metric.PURCHASES: pgettext("unit", "purchases"),
        }
        return units.get(self.metric, pgettext("unit", "growth"))

    @property
    def deadline(self) -> datetime.date:
        return last_valid_day(self.review_at)

    def next_step(self) -> str:
        if self.next_tier is None:
            return _("Top tier reached.")
        return _("%(needed)s more %(unit)s to reach %(tier)s.") % {
            "unit": self.unit,
            "needed": f"{self.needed_for_next:,}",
            "tier": self.next_tier.name,
        }

    def outlook(self) -> str:
        if self.keeps:
            return _("Keeps %(tier)s at the review on %(date)s.") % {
                "tier": self.earned_tier.name,
                "date": self.deadline,
            }
        return _("Drops to %(tier)s unless %(needed)s more %(unit)s by %(date)s.") % {
            "unit": self.unit,
            "tier": self.review_tier.name,
            "needed": f"{self.needed_to_keep:,}",
            "date": self.deadline,
        }

    def held_by(self) -> str:
        # The source is never OVERRIDE or PLAN without its end date (``effective``).
        if self.source == Source.OVERRIDE and self.override_until:
            return _("%(tier)s by manual override until %(date)s; earned tier %(earned)s.") % {
                "tier": self.tier.name,
                "date": last_valid_day(self.override_until),
                "earned": self.earned_tier.name,
            }
        if self.source == Source.PLAN and self.plan_until:
            return _("%(tier)s by paid plan until %(date)s; earned tier %(earned)s.") % {
                "tier": self.tier.name,
                "date": last_valid_day(self.plan_until),
                "earned": self.earned_tier.name,
            }
        return ""


def review_outcome(policy: TierPolicy, tiers: list[Tier], earned: Tier, value: int) -> Tier:
    """The earned tier after a review that found ``value`` growth, by the downgrade rule."""
    target = qualified_for(tiers, value)
    if target.rank >= earned.rank or policy.downgrade == TierPolicy.Downgrade.NEVER:
        return target if target.rank > earned.rank else earned
    if policy.downgrade == TierPolicy.Downgrade.ONE_LEVEL:
        below = [tier for tier in tiers if tier.rank < earned.rank][-1]
        return below if below.rank > target.rank else target
    return target


def tier_progress(member: Member, at: datetime.datetime | None = None) -> Progress:
    at = at or timezone.now()
    policy = TierPolicy.current()
    tiers = ladder()
    by_id = {tier.pk: tier for tier in tiers}
    status = MemberTier.objects.filter(member=member).first()
    if status is None:
        start, end = periods.current_period(policy, member, at)
        status = MemberTier(
            member=member,
            tier=tiers[0],
            earned_tier=tiers[0],
            since=member.created_at,
            period_start=start,
            valid_until=end,
        )
    tier, source = effective(status, at, by_id)
    earned = by_id[status.earned_tier_id]
    review_at = status.valid_until + periods.grace(policy)
    in_period = qualifying_between(
        policy, member.pk, status.period_start, at + datetime.timedelta(microseconds=1)
    )
    window_start = periods.upgrade_window_start(policy, status.period_start, at)
    in_window = (
        in_period
        if window_start == status.period_start
        else qualifying_between(policy, member.pk, window_start, at + datetime.timedelta(microseconds=1))
    )
    higher = [t for t in tiers if t.rank > max(earned.rank, qualified_for(tiers, in_window).rank)]
    next_tier = higher[0] if higher else None
    review_tier = review_outcome(policy, tiers, earned, in_period)
    return Progress(
        tier=tier,
        source=source,
        since=status.since,
        earned_tier=earned,
        period_start=status.period_start,
        review_at=review_at,
        in_grace=status.valid_until <= at < review_at,
        growth_in_period=in_period,
        growth_in_window=in_window,
        next_tier=next_tier,
        needed_for_next=max(0, next_tier.threshold - in_window) if next_tier else 0,
        keeps=review_tier.rank >= earned.rank,
        review_tier=review_tier,
        needed_to_keep=max(0, earned.threshold - in_period),
        override_until=status.override_until,
        plan_until=status.plan_until,
        metric=policy.metric,
    )


def refresh_needed(
    statuses: dict[int, MemberTier], at: datetime.datetime, policy: TierPolicy, tiers: list[Tier]
) -> set[int]:
    """Of these members (id -> their status, missing when they have none yet), the ones for whom
    ``tier_refresh`` at ``at`` would write something: no status yet, a review overdue, or enough
    qualifying value for a higher tier than they earned. For everyone else it changes nothing,
    so a batch may skip it. One query for all of them (growth metric; others: all of them)."""
    due = {member_id for member_id, status in statuses.items() if status is None}
    live = {
        member_id: status
        for member_id, status in statuses.items()
        if status is not None and status.valid_until + periods.grace(policy) > at
    }
    due |= statuses.keys() - due - live.keys()
    if policy.metric != TierPolicy.Metric.GROWTH:
        return due | live.keys()
    by_id = {tier.pk: tier for tier in tiers}
    top = max(tier.rank for tier in tiers)
    climbing = {m: s for m, s in live.items() if by_id[s.earned_tier_id].rank < top}
    if not climbing:
        return due
    starts = {m: periods.upgrade_window_start(policy, s.period_start, at) for m, s in climbing.items()}
    value = dict.fromkeys(climbing, 0)
    rows = growth_entries().filter(
        account__member_id__in=climbing, created_at__gte=min(starts.values()), created_at__lte=at
    )
    for member_id, created_at, amount in rows.values_list("account__member_id", "created_at", "amount"):
        if created_at >= starts[member_id]:
            value[member_id] += amount
    return due | {
        m for m, s in climbing.items() if qualified_for(tiers, value[m]).rank > by_id[s.earned_tier_id].rank
    }
