"""The programme dashboard: KPI cards against the previous period, and the same over time.

Definitions (the page shows them too):
- sales are what members paid (purchases of the period), refunds are refunds made in the
  period; net sales = sales − refunds;
- points are the redeemable point types': issued = earn entries, redeemed = spends less spends
  given back, expired = expiry entries, reversed = points taken back for refunds;
- programme cost = (points issued − reversed + adjusted) × value per point, plus the face value
  of amount-off coupons redeemed; its share = cost ÷ net sales, against the operator's target;
- liability = points held (available + pending − owed) at the period's end × value per point;
- active members bought, did something or exchanged points; counts come from the nightly
  rollup (as of yesterday) for the window closest to the period (a day, 7, 30 or 90 days).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from django.db.models import Exists, OuterRef, Q, Sum
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from benefits.models import Benefit
from campaigns.insight.charts import CNY, COUNT, PERCENT, POINTS, Chart, bucket_label, num
from campaigns.insight.figures import Daily, change, cumulative, daily, members_by_tier, ratio
from campaigns.insight.models import (
    ActiveDay,
    CouponDay,
    InsightSettings,
    MemberDay,
    PointsDay,
    SalesDay,
    StoreSalesDay,
)
from campaigns.insight.query import Query
from campaigns.insight.rollups import WINDOWS, yesterday
from points.models import Entry, PointType

EPOCH = datetime.date(2000, 1, 1)


@dataclass(frozen=True)
class Kpi:
    key: str
    label: Promise
    value: Any
    previous: Any = None
    unit: str = COUNT
    note: Promise | str = ""
    #: whether a rise is good news (green) or bad (red), for the arrow's colour
    up_is_good: bool = True

    @property
    def change(self) -> Decimal | None:
        if self.unit == PERCENT:
            return (
                None if self.value is None or self.previous is None else Decimal(self.value - self.previous)
            )
        return change(self.value, self.previous)


@dataclass
class Period:
    """The figures of one period, from which the KPI cards take now and before."""

    members: int = 0
    joined: int = 0
    active: int | None = None
    active_window: int = 0
    mau: int | None = None
    orders: int = 0
    sales: Decimal = Decimal(0)
    refunds: Decimal = Decimal(0)
    store_sales: Decimal | None = None
    store_orders: int | None = None
    member_sales_at_reporting: Decimal = Decimal(0)
    member_orders_at_reporting: int = 0
    issued: int = 0
    redeemed: int = 0
    expired: int = 0
    reversed: int = 0
    adjusted: int = 0
    points_cost: Decimal = Decimal(0)
    coupon_cost: Decimal = Decimal(0)
    liability: Decimal = Decimal(0)

    @property
    def net_sales(self) -> Decimal:
        return self.sales - self.refunds

    @property
    def cost(self) -> Decimal:
        return self.points_cost + self.coupon_cost


def _redeemable() -> dict[int, PointType]:
    return {pt.pk: pt for pt in PointType.objects.filter(redeemable=True).order_by("pk")}


def closest_window(days: int) -> int:
    return min(WINDOWS, key=lambda w: (abs(w - days), -w))


@dataclass
class Fetched:
    """Every rollup a dashboard reads, fetched once for the period and the one before."""

    query: Query
    before: Query
    sales: Daily
    joined: Daily
    points: Daily
    coupons: Daily
    members: dict[datetime.date, int]
    held: dict[int, dict[datetime.date, int]]
    active: dict[tuple[datetime.date, int], int]
    types: dict[int, PointType]
    coupon_values: dict[int, Decimal]
    reported: dict[bool, dict[str, Any]]


def fetch(query: Query) -> Fetched:
    before = query.previous()
    span = replace(query, start=before.start)
    ends = [before.end, query.end]
    members = members_by_tier(query, ends).get(query.tier, dict.fromkeys(ends, 0))
    types = _redeemable()
    return Fetched(
        query=query,
        before=before,
        sales=daily(SalesDay, span, ["orders", "sales", "refund_amount"]),
        joined=daily(MemberDay, span, ["joined"], tier=None),
        points=daily(PointsDay, span, ["amount"], by=("point_type_id", "kind")),
        coupons=daily(CouponDay, span, ["redeemed"], by=("benefit_id",)),
        members=members,
        held=cumulative(PointsDay, query, "amount", ends, by="point_type_id"),
        active=_actives(query, before),
        types=types,
        coupon_values=dict(Benefit.objects.filter(kind=Benefit.Kind.AMOUNT_OFF).values_list("pk", "value")),
        reported=_store_totals(span, before),
    )


def _active_days(query: Query) -> dict[datetime.date, datetime.date]:
    """{chart bucket: the day whose rolling counts stand for it (its last, or yesterday)}."""
    ends: dict[datetime.date, datetime.date] = {}
    for day in query.each_day():
        ends[query.bucket(day)] = min(day, yesterday())
    return ends


def _actives(query: Query, before: Query) -> dict[tuple[datetime.date, int], int]:
    """{(day, window): members} for the period ends and the MAU chart, in one query."""
    days = {min(query.end, yesterday()), min(before.end, yesterday()), *_active_days(query).values()}
    rows = (
        ActiveDay.objects.filter(query.where(), day__in=days)
        .values("day", "window")
        .annotate(n=Sum("active"))
        .order_by()
    )
    return {(row["day"], row["window"]): row["n"] for row in rows}


def _store_totals(span: Query, before: Query) -> dict[bool, dict[str, Any]]:
    """{in the previous period: {all customers' sales and orders where stores reported them,
    and members' on the same store-days}}, both periods in one query per table."""
    reported = StoreSalesDay.objects.filter(day__gte=span.start, day__lte=span.end)
    if span.stores is not None:
        reported = reported.filter(store__in=span.stores)
    same_day = StoreSalesDay.objects.filter(store=OuterRef("store"), day=OuterRef("day"))
    members = SalesDay.objects.filter(span.in_period(), Exists(same_day))

    periods = {False: Q(day__gt=before.end), True: Q(day__lte=before.end)}

    def split(rows: Any) -> dict[bool, dict[str, Any]]:
        sums = rows.aggregate(
            **{f"sales_{p:d}": Sum("sales", filter=when) for p, when in periods.items()},
            **{f"orders_{p:d}": Sum("orders", filter=when) for p, when in periods.items()},
        )
        return {p: {"sales": sums[f"sales_{p:d}"], "orders": sums[f"orders_{p:d}"]} for p in periods}

    totals, ours = split(reported), split(members)
    return {
        p: {
            "sales": totals[p]["sales"],
            "orders": totals[p]["orders"],
            "member_sales": ours[p]["sales"] or Decimal(0),
            "member_orders": ours[p]["orders"] or 0,
        }
        for p in periods
    }


def period_figures(data: Fetched, previous: bool) -> Period:
    query = data.before if previous else data.query
    start, end = query.start, query.end
    figures = Period()
    figures.members = data.members.get(end, 0)
    figures.joined = data.joined.total("joined", start, end)
    figures.active_window = closest_window(query.days)
    active_day = min(end, yesterday())
    rolled = any(day == active_day for day, _w in data.active)
    figures.active = data.active.get((active_day, figures.active_window), 0) if rolled else None
    figures.mau = data.active.get((active_day, 30), 0) if rolled else None
    figures.orders = data.sales.total("orders", start, end)
    figures.sales = Decimal(data.sales.total("sales", start, end))
    figures.refunds = Decimal(data.sales.total("refund_amount", start, end))
    store = data.reported[previous]
    figures.store_sales, figures.store_orders = store["sales"], store["orders"]
    figures.member_sales_at_reporting = store["member_sales"]
    figures.member_orders_at_reporting = store["member_orders"]
    for pk, point_type in data.types.items():

        def moved(*kinds: str, pk: int = pk) -> int:
            return data.points.total("amount", start, end, point_type_id=pk, kind=kinds)

        issued, reversed_, adjusted = (
            moved(Entry.Kind.EARN),
            -moved(Entry.Kind.REVERSE),
            moved(Entry.Kind.ADJUST),
        )
        figures.issued += issued
        figures.redeemed += -moved(Entry.Kind.SPEND, Entry.Kind.REFUND)
        figures.expired += -moved(Entry.Kind.EXPIRE)
        figures.reversed += reversed_
        figures.adjusted += adjusted
        figures.points_cost += (issued - reversed_ + adjusted) * point_type.cny_value
        figures.liability += data.held.get(pk, {}).get(end, 0) * point_type.cny_value
    redeemed = data.coupons.grouped("redeemed", start, end, 0)
    figures.coupon_cost = sum(
        (Decimal(n) * (data.coupon_values.get(pk) or 0) for pk, n in redeemed.items()), Decimal(0)
    )
    return figures


def kpis(data: Fetched, settings: InsightSettings) -> list[Kpi]:
    now, before = period_figures(data, False), period_figures(data, True)
    target = settings.cost_target_percent / 100

    def share(p: Period) -> Decimal | None:
        return ratio(p.member_sales_at_reporting, p.store_sales) if p.store_sales else None

    def non_member_aov(p: Period) -> Decimal | None:
        if p.store_sales is None or not p.store_orders:
            return None
        orders = p.store_orders - p.member_orders_at_reporting
        return ratio(p.store_sales - p.member_sales_at_reporting, orders) if orders > 0 else None

    return [
        Kpi("members", _("Members"), now.members, before.members),
        Kpi("joined", _("New members"), now.joined, before.joined),
        Kpi(
            "active",
            _("Active members"),
            now.active,
            before.active,
            note=_("in the %(days)s days to the period's end") % {"days": now.active_window},
        ),
        Kpi("mau", _("Monthly active (MAU)"), now.mau, before.mau, note=_("last 30 days")),
        Kpi("sales", _("Members' net sales"), now.net_sales, before.net_sales, CNY),
        Kpi("orders", _("Members' orders"), now.orders, before.orders),
        Kpi(
            "aov",
            _("Average order (members)"),
            ratio(now.sales, now.orders),
            ratio(before.sales, before.orders),
            CNY,
        ),
        Kpi(
            "aov_others",
            _("Average order (non-members)"),
            non_member_aov(now),
            non_member_aov(before),
            CNY,
            note=_("from the sales stores report for all customers"),
        ),
        Kpi(
            "share",
            _("Members' share of sales"),
            share(now),
            share(before),
            PERCENT,
            note=_("where stores report all customers' sales"),
        ),
        Kpi("issued", _("Points issued"), now.issued, before.issued, POINTS, up_is_good=False),
        Kpi("redeemed", _("Points redeemed"), now.redeemed, before.redeemed, POINTS),
        Kpi("expired", _("Points expired"), now.expired, before.expired, POINTS, up_is_good=False),
        Kpi(
            "redemption_rate",
            _("Redemption rate"),
            ratio(now.redeemed, now.issued),
            ratio(before.redeemed, before.issued),
            PERCENT,
            note=_("points redeemed ÷ issued in the period"),
        ),
        Kpi("liability", _("Points liability"), now.liability, before.liability, CNY, up_is_good=False),
        Kpi(
            "cost_share",
            _("Programme cost ÷ sales"),
            ratio(now.cost, now.net_sales),
            ratio(before.cost, before.net_sales),
            PERCENT,
            note=_("target %(target)s") % {"target": f"{target * 100:.2f}%"},
            up_is_good=False,
        ),
    ]


def charts(data: Fetched) -> list[Chart]:
    query = data.query
    labels = [bucket_label(query, b) for b in query.buckets()]
    sales = data.sales.buckets("sales", query)
    refunds = data.sales.buckets("refund_amount", query)
    net = [num(Decimal(s) - Decimal(r)) for s, r in zip(sales, refunds, strict=True)]
    types = list(data.types)

    def points(*kinds: str, sign: int = -1) -> list[int]:
        return [sign * v for v in data.points.buckets("amount", query, point_type_id=types, kind=kinds)]

    ends = _active_days(query)
    mau = [data.active.get((ends[b], 30)) for b in query.buckets()]
    return [
        Chart(
            "sales",
            _("Members' net sales and orders"),
            "bar",
            labels,
            [
                {"name": _("net sales (CNY)"), "data": net, "type": "bar"},
                {
                    "name": _("orders"),
                    "data": data.sales.buckets("orders", query),
                    "type": "line",
                    "yAxis": 1,
                },
            ],
            CNY,
        ),
        Chart(
            "members",
            _("New and monthly active members"),
            "bar",
            labels,
            [
                {"name": _("new members"), "data": data.joined.buckets("joined", query), "type": "bar"},
                {"name": _("monthly active (MAU)"), "data": mau, "type": "line", "yAxis": 1},
            ],
        ),
        Chart(
            "points",
            _("Points issued, redeemed and expired"),
            "bar",
            labels,
            [
                {"name": _("issued"), "data": points(Entry.Kind.EARN, sign=1), "type": "bar"},
                {"name": _("redeemed"), "data": points(Entry.Kind.SPEND, Entry.Kind.REFUND), "type": "bar"},
                {"name": _("expired"), "data": points(Entry.Kind.EXPIRE), "type": "bar"},
            ],
            POINTS,
        ),
    ]


def freshness() -> datetime.datetime | None:
    from campaigns.insight.models import RollupDay

    last = RollupDay.objects.order_by("-rolled_up_at").values_list("rolled_up_at", flat=True).first()
    return timezone.localtime(last) if last else None
