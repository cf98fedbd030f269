"""行为分析: how often members buy, how long between purchases, who comes back, and what an order
is worth, by tier and store. Frequency and intervals are those of the last scoring run's window."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.db.models import Q, Sum
from django.utils.translation import gettext as _

from campaigns.insight.charts import CNY, COUNT, Chart
from campaigns.insight.figures import daily
from campaigns.insight.models import BehaviourCount, SalesDay
from campaigns.insight.query import Query
from campaigns.insight.snapshots import BAND_LABELS, FREQUENCY_BANDS, INTERVAL_BANDS, LONGER
from campaigns.insight.tables import TEXT, Table
from members.models import Store
from tiers.models import Tier


def behaviour_page(query: Query) -> dict[str, Any]:
    rows = BehaviourCount.objects.filter(_where(query))
    counts = list(rows.values("frequency_band", "interval_band").annotate(n=Sum("members")).order_by())
    frequency: dict[str, int] = defaultdict(int)
    interval: dict[str, int] = defaultdict(int)
    for row in counts:
        frequency[row["frequency_band"]] += row["n"]
        interval[row["interval_band"]] += row["n"]
    buyers = sum(frequency.values())
    again = buyers - frequency.get("1", 0)
    f_bands = [band for band, _least in reversed(FREQUENCY_BANDS)]
    i_bands = [band for band, _days in INTERVAL_BANDS] + [LONGER]
    tiers = {t.pk: t.name for t in Tier.objects.order_by("rank")}
    sold = daily(SalesDay, query, ["orders", "sales"], by=("tier_id", "store_id"))
    orders_t = sold.grouped("orders", query.start, query.end, 0)
    sales_t = sold.grouped("sales", query.start, query.end, 0)
    orders_s = sold.grouped("orders", query.start, query.end, 1)
    sales_s = sold.grouped("sales", query.start, query.end, 1)
    top_stores = sorted(sales_s, key=lambda pk: -sales_s[pk])[:20]
    stores = dict(Store.objects.filter(pk__in=[s for s in top_stores if s]).values_list("pk", "name"))

    def aov(sales: dict, orders: dict, key: Any) -> float | None:
        return round(float(Decimal(sales[key]) / orders[key]), 2) if orders.get(key) else None

    charts = [
        Chart(
            "frequency",
            _("Members by orders in the window"),
            "bar",
            f_bands,
            [{"name": _("members"), "data": [frequency.get(b, 0) for b in f_bands], "type": "bar"}],
        ),
        Chart(
            "interval",
            _("Average days between purchases (购买周期)"),
            "bar",
            [str(BAND_LABELS.get(b, b)) for b in i_bands],
            [{"name": _("members"), "data": [interval.get(b, 0) for b in i_bands], "type": "bar"}],
        ),
        Chart(
            "aov_tier",
            _("Average order by tier"),
            "bar",
            [tiers[pk] for pk in tiers],
            [
                {
                    "name": _("average order (CNY)"),
                    "data": [aov(sales_t, orders_t, pk) for pk in tiers],
                    "type": "bar",
                }
            ],
            CNY,
        ),
        Chart(
            "aov_store",
            _("Average order by store (top 20 by sales)"),
            "bar",
            [stores.get(pk, _("online / no store")) for pk in top_stores],
            [
                {
                    "name": _("average order (CNY)"),
                    "data": [aov(sales_s, orders_s, pk) for pk in top_stores],
                    "type": "bar",
                }
            ],
            CNY,
        ),
    ]
    summary = Table(
        _("Repurchase"),
        [(_("measure"), TEXT), (_("value"), COUNT)],
        [[_("members who bought in the window"), buyers], [_("of whom bought again"), again]],
    )
    rate = Decimal(again) / buyers if buyers else None
    return {"charts": charts, "tables": [summary], "repurchase_rate": rate}


def _where(query: Query) -> Q:
    """Behaviour counts are kept by store and tier (a member's channel is not among them)."""
    condition = Q()
    if query.stores is not None:
        condition &= Q(store__in=query.stores)
    if query.tier is not None:
        condition &= Q(tier_id=query.tier)
    return condition
