"""A campaign's results: reach, cost, budget, coupons, and sales against the control group.

Sales are what the group's members paid, less what was refunded, for purchases made while the
campaign ran. The uplift compares sales per member of the targeted group with the control
group's; whether the difference can be told from chance is Welch's t-test on the members' sales
(normal approximation; said to be undecidable below ``MIN_GROUP`` members a group).
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import Count, Q, Sum
from django.utils import timezone

from benefits.models import Coupon
from campaigns.models import AwardLine, Campaign


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


#: Below this many members in either group the uplift's significance is not stated.
MIN_GROUP = 30


@dataclass(frozen=True)
class GroupSales:
    """One group's sales while the campaign ran: enough for its mean and variance."""

    members: int
    buyers: int
    sales: Decimal
    squares: Decimal  # Σ (a member's sales)²

    @property
    def mean(self) -> Decimal | None:
        return self.sales / self.members if self.members else None

    @property
    def variance(self) -> float:
        if self.members < 2:
            return 0.0
        mean = float(self.sales) / self.members
        return max(0.0, (float(self.squares) - self.members * mean * mean) / (self.members - 1))


#: Each group's members, buyers, sales and squares: one pass over the window's purchases of the
#: participants, grouped per member, joined to the participants (a member who bought nothing
#: counts with 0). Written once per member, not per figure: the ORM repeats an annotation in
#: every aggregate that uses it, and each repeat re-read the purchases.
_GROUPS_SALES = """
SELECT p.control, COUNT(*), SUM(CASE WHEN s.spent > 0 THEN 1 ELSE 0 END),
       SUM(COALESCE(s.spent, 0)), SUM(COALESCE(s.spent, 0) * COALESCE(s.spent, 0))
FROM campaigns_participation p LEFT JOIN (
    SELECT u.member_id, SUM(u.paid_amount - u.refunded_amount) AS spent
    FROM purchases_purchase u
    WHERE u.occurred_at >= %(start)s AND u.occurred_at < %(end)s AND u.member_id IN (
        SELECT member_id FROM campaigns_participation WHERE campaign_id = %(campaign)s
    )
    GROUP BY u.member_id
) s ON s.member_id = p.member_id
WHERE p.campaign_id = %(campaign)s
GROUP BY p.control
"""


def _decimal(value: object, places: str) -> Decimal:
    # SQLite sums decimals as floats: back to the cents (or the squares' four places)
    return Decimal(str(value or 0)).quantize(Decimal(places))


def groups_sales(campaign: Campaign, end: datetime.datetime) -> dict[bool, GroupSales]:
    """{control: GroupSales} of the campaign's targeted (False) and control (True) groups: each
    member's net sales in the window, summed in the database with their squares."""
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            _GROUPS_SALES, {"start": adapt(campaign.starts_at), "end": adapt(end), "campaign": campaign.pk}
        )
        rows = cursor.fetchall()
    return {
        bool(control): GroupSales(members, buyers or 0, _decimal(sales, "0.01"), _decimal(squares, "0.0001"))
        for control, members, buyers, sales, squares in rows
    }


@dataclass(frozen=True)
class Uplift:
    """Targeted against control: sales per member, the difference, and whether it is chance."""

    per_member: Decimal | None  # targeted mean less control mean (CNY per member)
    relative: Decimal | None  # 0.12 = +12 %
    incremental_sales: Decimal | None  # per_member × targeted members
    p_value: float | None  # two-sided; None when a group is too small to tell

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < 0.05


def uplift(targeted: GroupSales | None, control: GroupSales | None) -> Uplift:
    if not targeted or not control or not targeted.members or not control.members:
        return Uplift(None, None, None, None)
    mean_t, mean_c = targeted.mean or Decimal(0), control.mean or Decimal(0)
    per_member = mean_t - mean_c
    relative = mean_t / mean_c - 1 if mean_c else None
    p_value = None
    if min(targeted.members, control.members) >= MIN_GROUP:
        error = math.sqrt(targeted.variance / targeted.members + control.variance / control.members)
        if error > 0:
            p_value = math.erfc(abs(float(per_member)) / error / math.sqrt(2))
        else:
            p_value = 0.0 if per_member else 1.0
    return Uplift(per_member, relative, per_member * targeted.members, p_value)


def campaign_results(campaign: Campaign, *, now: datetime.datetime | None = None) -> Results:
    now = now or timezone.now()
    lines = AwardLine.objects.filter(campaign=campaign).aggregate(
        points=Sum("amount", filter=Q(point_type__code="points")),
        growth=Sum("amount", filter=Q(point_type__code="growth")),
        cny=Sum("cny"),
        coupons=Count("coupon"),
        redeemed=Count("coupon", filter=Q(coupon__status=Coupon.Status.REDEEMED)),
    )
    end = min(campaign.ends_at, now)
    spent_points = lines["points"] or 0
    spent_cny = lines["cny"] or Decimal(0)
    sales = groups_sales(campaign, end)
    none = GroupSales(0, 0, Decimal(0), Decimal(0))
    return Results(
        participants=sales.get(False, none).members,
        control=sales.get(True, none).members,
        points=spent_points,
        cny=spent_cny,
        growth=lines["growth"] or 0,
        budget_points_left=None if campaign.budget_points is None else campaign.budget_points - spent_points,
        budget_cny_left=None if campaign.budget_cny is None else campaign.budget_cny - spent_cny,
        coupons=lines["coupons"],
        coupons_redeemed=lines["redeemed"],
        sales_per_participant=sales.get(False, none).mean,
        sales_per_control=sales.get(True, none).mean,
    )
