"""Stores: each store's members, their sales and share, points and coupons (the store manager's
view of their own store; store staff see only theirs)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Exists, OuterRef, Sum
from django.utils.translation import gettext as _

from campaigns.insight.charts import CNY, Chart
from campaigns.insight.figures import cumulative, daily
from campaigns.insight.models import CouponDay, MemberDay, PointsDay, SalesDay, StoreSalesDay
from campaigns.insight.query import Query
from campaigns.insight.tables import COUNT, PERCENT, POINTS, TEXT, Table
from members.models import Store
from points.models import Entry, PointType


def stores_page(query: Query) -> dict[str, Any]:
    unfiltered_tier = Query(query.start, query.end, query.stores, query.channel, None)
    joined = daily(MemberDay, unfiltered_tier, ["joined"], by=("store_id",), tier=None)
    members = cumulative(MemberDay, unfiltered_tier, "joined", [query.end], by="store_id", tier=None)
    sold = daily(SalesDay, query, ["orders", "sales", "refund_amount"], by=("store_id",))
    types = list(PointType.objects.filter(redeemable=True).values_list("pk", flat=True))
    points = daily(PointsDay, query, ["amount"], by=("store_id", "kind"), point_type__in=types)
    coupons = daily(CouponDay, query, ["redeemed"], by=("store_id",))
    reported = StoreSalesDay.objects.filter(day__gte=query.start, day__lte=query.end)
    if query.stores is not None:
        reported = reported.filter(store__in=query.stores)
    totals = {
        r["store_id"]: r["sales"] for r in reported.values("store_id").annotate(sales=Sum("sales")).order_by()
    }
    # members' sales on the same store-days as the totals: a day a store did not report counts in neither
    same_day = StoreSalesDay.objects.filter(store=OuterRef("store"), day=OuterRef("day"))
    on_reported = {
        r["store_id"]: r["sales"]
        for r in SalesDay.objects.filter(query.in_period(), Exists(same_day))
        .values("store_id")
        .annotate(sales=Sum("sales"))
        .order_by()
    }
    start, end = query.start, query.end
    new = joined.grouped("joined", start, end, 0)
    sales = sold.grouped("sales", start, end, 0)
    refunds = sold.grouped("refund_amount", start, end, 0)
    orders = sold.grouped("orders", start, end, 0)
    redeemed = coupons.grouped("redeemed", start, end, 0)
    stores = Store.objects.order_by("code")
    if query.stores is not None:
        stores = stores.filter(pk__in=query.stores)
    table = Table(
        _("Stores"),
        [
            (_("store"), TEXT),
            (_("members"), COUNT),
            (_("joined in the period"), COUNT),
            (_("members' orders"), COUNT),
            (_("members' net sales (CNY)"), CNY),
            (_("members' share of sales"), PERCENT),
            (_("points issued"), POINTS),
            (_("points redeemed"), POINTS),
            (_("coupons redeemed"), COUNT),
        ],
    )
    issued = points.grouped("amount", start, end, 0, kind=Entry.Kind.EARN)
    spent = points.grouped("amount", start, end, 0, kind=[Entry.Kind.SPEND, Entry.Kind.REFUND])
    for store in stores:
        net = Decimal(sales.get(store.pk, 0)) - Decimal(refunds.get(store.pk, 0))
        share = Decimal(on_reported.get(store.pk) or 0) / totals[store.pk] if totals.get(store.pk) else None
        table.rows.append(
            [
                f"{store.code} {store.name}",
                members.get(store.pk, {}).get(end, 0),
                new.get(store.pk, 0),
                orders.get(store.pk, 0),
                net,
                share,
                issued.get(store.pk, 0),
                -spent.get(store.pk, 0),
                redeemed.get(store.pk, 0),
            ]
        )
    ranked = sorted(table.rows, key=lambda row: -row[4])[:20]
    chart = Chart(
        "sales",
        _("Members' net sales by store (top 20)"),
        "bar",
        [row[0] for row in ranked],
        [{"name": _("members' net sales (CNY)"), "data": [float(row[4]) for row in ranked], "type": "bar"}],
        CNY,
    )
    return {"charts": [chart], "tables": [table]}
