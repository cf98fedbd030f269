"""Tiers and benefits: the tiers over time, upgrades and downgrades (等级晋升率), and benefits
issued against used (核心权益兑换率)."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from benefits.models import Benefit
from campaigns.insight.charts import PERCENT, Chart, bucket_label
from campaigns.insight.figures import daily
from campaigns.insight.models import CouponDay, MemberDay, TierMoveDay
from campaigns.insight.pages.members import tier_chart, tiers_over_time
from campaigns.insight.query import Query
from campaigns.insight.tables import COUNT, TEXT, Table
from tiers.models import Tier


def tiers_page(query: Query) -> dict[str, Any]:
    tiers = list(Tier.objects.order_by("rank"))
    rank = {t.pk: t.rank for t in tiers}
    top = tiers[-1].pk if tiers else None
    moves = daily(TierMoveDay, query, ["moves"], by=("from_tier_id", "to_tier_id"), tier=None)
    ups = dict.fromkeys(query.buckets(), 0)
    downs = dict(ups)
    for (day, before, after), values in moves.rows.items():
        bucket = query.bucket(day)
        if query.tier is not None and query.tier not in (before, after):
            continue
        if rank.get(after, 0) > rank.get(before, 0):
            ups[bucket] += values["moves"]
        else:
            downs[bucket] += values["moves"]
    # promotion rate: upgrades in the period ÷ the members who could move up in it (below the
    # top tier when it began, and those who joined during it)
    eve = query.start - datetime.timedelta(days=1)
    start = Query(eve, eve, query.stores, query.channel, None)
    at_start = tiers_over_time(start, tiers)
    joined = daily(
        MemberDay, Query(query.start, query.end, query.stores, query.channel, None), ["joined"], tier=None
    )
    could = sum(v[0] for pk, v in at_start.items() if pk != top) + joined.total(
        "joined", query.start, query.end
    )
    promotion = Decimal(sum(ups.values())) / could if could else None
    labels = [bucket_label(query, b) for b in query.buckets()]
    coupons = daily(CouponDay, query, ["issued", "redeemed", "expired"], by=("benefit_id",))
    issued = coupons.grouped("issued", query.start, query.end, 0)
    redeemed = coupons.grouped("redeemed", query.start, query.end, 0)
    expired = coupons.grouped("expired", query.start, query.end, 0)
    benefits = {b.pk: b.name for b in Benefit.objects.filter(pk__in=set(issued) | set(redeemed))}
    order = sorted(benefits, key=lambda pk: -issued.get(pk, 0))
    table = Table(
        _("Benefits issued and used"),
        [
            (_("benefit"), TEXT),
            (_("issued"), COUNT),
            (_("redeemed"), COUNT),
            (_("expired"), COUNT),
            (_("used (redeemed ÷ issued)"), PERCENT),
        ],
        [
            [
                benefits[pk],
                issued.get(pk, 0),
                redeemed.get(pk, 0),
                expired.get(pk, 0),
                Decimal(redeemed.get(pk, 0)) / issued[pk] if issued.get(pk) else None,
            ]
            for pk in order
        ],
    )
    charts = [
        tier_chart(query, tiers),
        Chart(
            "moves",
            _("Upgrades and downgrades"),
            "bar",
            labels,
            [
                {"name": _("upgrades"), "data": list(ups.values()), "type": "bar"},
                {"name": _("downgrades"), "data": [-v for v in downs.values()], "type": "bar"},
            ],
        ),
        Chart(
            "benefits",
            _("Coupons issued and redeemed by benefit"),
            "bar",
            [benefits[pk] for pk in order],
            [
                {"name": _("issued"), "data": [issued.get(pk, 0) for pk in order], "type": "bar"},
                {"name": _("redeemed"), "data": [redeemed.get(pk, 0) for pk in order], "type": "bar"},
            ],
        ),
    ]
    return {
        "charts": charts,
        "tables": [table],
        "promotion_rate": promotion,
        "upgrades": sum(ups.values()),
        "downgrades": sum(downs.values()),
    }
