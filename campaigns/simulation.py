"""Run one campaign over a past date range of real purchases: cost, reach, when the budget ends.

The engine is the pipeline's; only the inputs differ: the campaign is treated as live over the
range (its own dates are ignored), member state is today's (tier, tags), a targeted segment is
read as the pipeline reads it for a batch (once per chunk of purchases, as of its first one),
and caps and budget are counted in memory. Nothing is written.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections import defaultdict
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import Min, Prefetch
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import selectors
from campaigns.earning import engine
from campaigns.models import Campaign
from members.models import Member
from members.purchases.models import Purchase, PurchaseLine
from tiers.models import MemberTier

CHUNK = 2000


@dataclasses.dataclass
class Simulation:
    start: datetime.datetime
    end: datetime.datetime
    purchases: int = 0
    sales: Decimal = Decimal(0)
    points: int = 0
    growth: int = 0
    cny: Decimal = Decimal(0)
    coupons: int = 0
    reached: int = 0
    held_out: int = 0
    budget_ran_out_at: datetime.datetime | None = None

    @property
    def cost_share(self) -> Decimal | None:
        """CNY cost as a share of the sales in the range (0.012 = 1.2 %)."""
        return self.cny / self.sales if self.sales else None


def campaign_simulate(campaign: Campaign, *, start: datetime.datetime, end: datetime.datetime) -> Simulation:
    if campaign.trigger != Campaign.Trigger.PURCHASE:
        raise ValidationError(_("Only purchase campaigns can be simulated over past purchases."))
    if end <= start:
        raise ValidationError({"end": _("The end must be after the start.")})
    if end > timezone.now() + datetime.timedelta(days=1):
        raise ValidationError({"end": _("Simulate over the past: real purchases only.")})
    book = selectors.rule_book(extra=[campaign], live=False)
    offer = dataclasses.replace(book.offer(campaign.pk), starts_at=start, ends_at=end)
    result = Simulation(start=start, end=end)
    used: dict[int, engine.Usage] = defaultdict(engine.Usage)
    budget = engine.Usage(
        budget_points_left=campaign.budget_points,
        budget_cny_left=campaign.budget_cny,
    )
    days: dict[tuple[int, datetime.date], int] = defaultdict(int)
    reached: set[int] = set()
    held: set[int] = set()
    purchases = (
        Purchase.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
        .select_related("member")
        .order_by("occurred_at", "pk")
    )
    if offer.by_product or any(rule.excluded_categories or rule.excluded_skus for rule in book.earn_rules):
        purchases = purchases.prefetch_related(Prefetch("lines", PurchaseLine.objects.order_by("id")))
    last = None
    while True:
        page = purchases
        if last is not None:
            page = page.filter(occurred_at__gte=last[0]).exclude(occurred_at=last[0], pk__lte=last[1])
        chunk = list(page[:CHUNK])
        if not chunk:
            break
        last = (chunk[-1].occurred_at, chunk[-1].pk)
        states, firsts = _states(chunk, book)
        cases = [
            (
                selectors.purchase_fact(purchase),
                dataclasses.replace(
                    states[purchase.member_id],
                    first_purchase=firsts.get(purchase.member_id) == purchase.occurred_at,
                ),
            )
            for purchase in chunk
        ]
        # a targeted segment as the pipeline reads it for a chunk: once, as of its first purchase
        targeted = selectors.with_segments(cases, book, offers=[offer])
        for purchase, (fact, _state), state in zip(chunk, cases, targeted, strict=True):
            result.purchases += 1
            result.sales += purchase.paid_amount
            day = (purchase.member_id, timezone.localtime(purchase.occurred_at).date())
            mine = used[purchase.member_id]
            usage = engine.Usage(
                times=mine.times,
                points=mine.points,
                points_today=days[day],
                budget_points_left=budget.budget_points_left,
                budget_cny_left=budget.budget_cny_left,
            )
            outcome = engine.evaluate(
                fact,
                state,
                base=book.base_for(purchase.channel, purchase.store_id),
                offers=[offer],
                usage={offer.id: usage},
            )
            if outcome.targeted.get(offer.id):
                held.add(purchase.member_id)
            if offer.id not in outcome.targeted or outcome.targeted[offer.id]:
                continue
            reached.add(purchase.member_id)
            points = outcome.campaign_points(offer.id)
            cny = points * offer.cny_value
            mine.times += 1
            mine.points += points
            days[day] += points
            result.points += points
            result.cny += cny
            result.growth += outcome.campaign_points(offer.id, engine.GROWTH)
            result.coupons += len(outcome.coupons)
            if budget.budget_points_left is not None:
                budget.budget_points_left -= points
            if budget.budget_cny_left is not None:
                budget.budget_cny_left -= cny
            if result.budget_ran_out_at is None and _spent(budget):
                result.budget_ran_out_at = purchase.occurred_at
    result.reached, result.held_out = len(reached), len(held)
    return result


def _spent(budget: engine.Usage) -> bool:
    return (budget.budget_points_left is not None and budget.budget_points_left <= 0) or (
        budget.budget_cny_left is not None and budget.budget_cny_left <= 0
    )


def _states(chunk: list[Purchase], book: selectors.RuleBook):
    """Today's state of the chunk's members, and when each made their first purchase."""
    ids = {p.member_id for p in chunk}
    statuses = {s.member_id: s for s in MemberTier.objects.filter(member_id__in=ids)}
    tags: dict[int, set[int]] = defaultdict(set)
    for member_id, tag_id in Member.tags.through.objects.filter(member_id__in=ids).values_list(
        "member_id", "tag_id"
    ):
        tags[member_id].add(tag_id)
    firsts = dict(
        Purchase.objects.filter(member_id__in=ids)
        .values("member_id")
        .annotate(first=Min("occurred_at"))
        .order_by()
        .values_list("member_id", "first")
    )
    now = timezone.now()
    states = {}
    for purchase in chunk:
        member = purchase.member
        status = statuses.get(member.pk)
        tier = selectors.tier_selectors.effective(status, now, book.tiers)[0] if status else book.entry_tier
        states[member.pk] = engine.MemberState(
            id=member.pk,
            registered_at=member.created_at,
            tier_id=tier.pk,
            tier_name=tier.name,
            tier_rank=tier.rank,
            multiplier=tier.earn_multiplier,
            tag_ids=frozenset(tags[member.pk]),
            birthday=member.birthday,
        )
    return states, firsts
