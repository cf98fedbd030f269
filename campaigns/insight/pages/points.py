"""积分分析: where issued points come from, what they buy, how much is redeemed or lost, and
what members hold. Redeemable point types only (growth value buys nothing)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from benefits.models import Reward
from campaigns.insight.charts import PERCENT, POINTS, Chart, bucket_label
from campaigns.insight.figures import daily
from campaigns.insight.models import AwardDay, BalanceDay, PointsDay, RedemptionDay
from campaigns.insight.query import Query
from campaigns.insight.tables import COUNT, TEXT, Table
from points.models import Entry, PointType

#: Where issued points come from: award line kinds (the earning rules), then ledger entries
#: posted outside the rules (operators' adjustments, partners' grants).
SOURCES = [
    (
        "purchase",
        gettext_lazy("Purchases (base rate, tier and benefit multipliers)"),
        ("base", "tier", "benefit"),
    ),
    ("behaviour", gettext_lazy("Behaviour rules"), ("behaviour",)),
    ("campaign", gettext_lazy("Campaigns"), ("campaign",)),
]


def _rate(part: list[int], whole: list[int]) -> list[float | None]:
    return [round(p / w, 4) if w else None for p, w in zip(part, whole, strict=True)]


def points_page(query: Query) -> dict[str, Any]:
    types = list(PointType.objects.filter(redeemable=True).values_list("pk", flat=True))
    labels = [bucket_label(query, b) for b in query.buckets()]
    awards = daily(AwardDay, query, ["amount"], by=("kind",), point_type__in=types)
    moved = daily(PointsDay, query, ["amount"], by=("kind",), point_type__in=types)
    issued_series = [
        {
            "name": name,
            "data": awards.buckets("amount", query, kind=list(kinds)),
            "type": "bar",
            "stack": "issued",
        }
        for _key, name, kinds in SOURCES
    ]
    issued_series.append(
        {
            "name": _("Adjustments"),
            "data": moved.buckets("amount", query, kind=Entry.Kind.ADJUST),
            "type": "bar",
            "stack": "issued",
        }
    )
    earned = moved.buckets("amount", query, kind=Entry.Kind.EARN)
    redeemed = [-v for v in moved.buckets("amount", query, kind=[Entry.Kind.SPEND, Entry.Kind.REFUND])]
    expired = [-v for v in moved.buckets("amount", query, kind=Entry.Kind.EXPIRE)]
    left = [r + e for r, e in zip(redeemed, expired, strict=True)]
    exchanged = daily(RedemptionDay, query, ["redemptions", "points"], by=("reward_id", "via"))
    by_reward = exchanged.grouped("points", query.start, query.end, 0)
    count_by_reward = exchanged.grouped("redemptions", query.start, query.end, 0)
    by_via = exchanged.grouped("points", query.start, query.end, 1)
    rewards = {r.pk: r for r in Reward.objects.filter(pk__in=list(by_reward))}
    kinds = dict(Reward.Kind.choices)
    by_kind: dict[str, int] = defaultdict(int)
    for pk, points in by_reward.items():
        by_kind[str(kinds.get(rewards[pk].kind, rewards[pk].kind))] += points
    vias = dict(RedemptionDay.Via.choices)
    balances = daily(BalanceDay, query, ["available", "pending", "owed"], point_type__in=types)
    top = sorted(by_reward.items(), key=lambda kv: -kv[1])[:10]
    top_table = Table(
        _("Top rewards"),
        [(_("reward"), TEXT), (_("redemptions"), COUNT), (_("points"), POINTS)],
        [[rewards[pk].name, count_by_reward.get(pk, 0), points] for pk, points in top],
    )
    charts = [
        Chart("issued", _("Points issued by source"), "bar", labels, issued_series, POINTS),
        Chart(
            "flows",
            _("Points issued, redeemed and expired"),
            "line",
            labels,
            [
                {"name": _("issued"), "data": earned, "type": "line"},
                {"name": _("redeemed"), "data": redeemed, "type": "line"},
                {"name": _("expired"), "data": expired, "type": "line"},
            ],
            POINTS,
        ),
        Chart(
            "rates",
            _("Redemption rate and breakage"),
            "line",
            labels,
            [
                {"name": _("redeemed ÷ issued"), "data": _rate(redeemed, earned), "type": "line"},
                {"name": _("expired ÷ (redeemed + expired)"), "data": _rate(expired, left), "type": "line"},
            ],
            PERCENT,
        ),
        Chart(
            "balances",
            _("Points held (nightly)"),
            "line",
            labels,
            [
                {
                    "name": _("available"),
                    "data": _last_of_bucket(balances, query, "available"),
                    "type": "line",
                },
                {"name": _("pending"), "data": _last_of_bucket(balances, query, "pending"), "type": "line"},
                {"name": _("owed"), "data": _last_of_bucket(balances, query, "owed"), "type": "line"},
            ],
            POINTS,
        ),
        Chart(
            "by_type",
            _("Redeemed by reward type"),
            "pie",
            list(by_kind),
            [{"name": _("points"), "data": list(by_kind.values())}],
            POINTS,
        ),
        Chart(
            "by_via",
            _("Redeemed by channel"),
            "pie",
            [str(vias.get(v, v)) for v in by_via],
            [{"name": _("points"), "data": list(by_via.values())}],
            POINTS,
        ),
    ]
    return {"charts": charts, "tables": [top_table]}


def _last_of_bucket(found: Any, query: Query, field: str) -> list[int | None]:
    """Balances are snapshots: each bucket shows its last day's (none where no snapshot)."""
    per_day: dict[Any, int] = defaultdict(int)
    for key, values in found.rows.items():
        per_day[key[0]] += values[field]
    out: dict[Any, int | None] = dict.fromkeys(query.buckets())
    for day in sorted(per_day):
        out[query.bucket(day)] = per_day[day]
    return list(out.values())
