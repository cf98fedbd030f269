"""A campaign's results: reach, cost, budget, coupons, and sales against the control group."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from benefits.models import Coupon
from campaigns.models import AwardLine, Campaign, Participation
from members.purchases.models import Purchase


@dataclass(frozen=True)
class Results:
    participants: int
    control: int
    points: int  # net of refunds
    cny: Decimal
    growth: int
    budget_points_left: int | None
    budget_cny_left: Decimal | None
    coupons: int
    coupons_redeemed: int
    sales_per_participant: Decimal | None
    sales_per_control: Decimal | None

    @property
    def uplift(self) -> Decimal | None:
        """Participants' sales per member over the control group's, less one (0.12 = +12 %)."""
        if not self.sales_per_control or self.sales_per_participant is None:
            return None
        return self.sales_per_participant / self.sales_per_control - 1


def campaign_results(campaign: Campaign, *, now: datetime.datetime | None = None) -> Results:
    now = now or timezone.now()
    lines = AwardLine.objects.filter(campaign=campaign).aggregate(
        points=Sum("amount", filter=Q(point_type__code="points")),
        growth=Sum("amount", filter=Q(point_type__code="growth")),
        cny=Sum("cny"),
        coupons=Count("coupon"),
        redeemed=Count("coupon", filter=Q(coupon__status=Coupon.Status.REDEEMED)),
    )
    groups = dict(
        Participation.objects.filter(campaign=campaign)
        .values("control")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("control", "n")
    )
    end = min(campaign.ends_at, now)
    spent_points = lines["points"] or 0
    spent_cny = lines["cny"] or Decimal(0)
    return Results(
        participants=groups.get(False, 0),
        control=groups.get(True, 0),
        points=spent_points,
        cny=spent_cny,
        growth=lines["growth"] or 0,
        budget_points_left=None if campaign.budget_points is None else campaign.budget_points - spent_points,
        budget_cny_left=None if campaign.budget_cny is None else campaign.budget_cny - spent_cny,
        coupons=lines["coupons"],
        coupons_redeemed=lines["redeemed"],
        sales_per_participant=_sales_per_member(campaign, False, end, groups.get(False, 0)),
        sales_per_control=_sales_per_member(campaign, True, end, groups.get(True, 0)),
    )


def _sales_per_member(
    campaign: Campaign, control: bool, end: datetime.datetime, members: int
) -> Decimal | None:
    """Net CNY (paid less refunded) per member of the group, bought inside the campaign's window."""
    if not members:
        return None
    group = Participation.objects.filter(campaign=campaign, control=control).values("member_id")
    total = Purchase.objects.filter(
        member_id__in=group, occurred_at__gte=campaign.starts_at, occurred_at__lt=end
    ).aggregate(total=Sum(F("paid_amount") - F("refunded_amount")))["total"]
    return (total or Decimal(0)) / members
