"""会员结构: who the members are, how many join, how many keep buying, and the tiers over time.

Counts over time come from the day rollups (members joined, tier moves); "who they are" from
the night's profile snapshot; retention from the monthly cohort cells; lifecycle stages from
the last scoring run.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from typing import Any

from django.db.models import Sum
from django.db.models.functions import TruncMonth
from django.utils.translation import gettext as _

from campaigns.insight.charts import PERCENT, Chart, bucket_label
from campaigns.insight.figures import daily, members_by_tier
from campaigns.insight.models import CohortMonth, MemberDay, ProfileCount
from campaigns.insight.query import Query
from campaigns.insight.rollups import yesterday
from campaigns.insight.snapshots import AGE_BANDS, BAND_LABELS, TENURE_BANDS
from members.models import Channel, Gender, Store
from members.scoring.models import ScoreCount, ScoreRun, Stage
from tiers.models import Tier

#: Months after joining shown in the retention heat map, and how many cohorts.
COHORT_MONTHS = 12


def bucket_ends(query: Query) -> dict[datetime.date, datetime.date]:
    ends: dict[datetime.date, datetime.date] = {}
    for day in query.each_day():
        ends[query.bucket(day)] = day
    return ends


def tiers_over_time(query: Query, tiers: list[Tier]) -> dict[int, list[int]]:
    """{tier: members in it at the end of each chart bucket}: joined at the entry tier, plus
    moves in, less moves out (three queries however long the period)."""
    ends = list(bucket_ends(query).values())
    counts = members_by_tier(query, ends, every_tier=True)
    return {
        tier.pk: [counts.get(tier.pk, {}).get(end, 0) for end in ends]
        for tier in tiers
        if query.tier is None or tier.pk == query.tier
    }


def tier_chart(query: Query, tiers: list[Tier]) -> Chart:
    labels = [bucket_label(query, b) for b in bucket_ends(query)]
    counts = tiers_over_time(query, tiers)
    return Chart(
        "tiers",
        _("Members by tier"),
        "line",
        labels,
        [
            {"name": t.name, "data": counts[t.pk], "type": "line", "stack": "tiers", "area": True}
            for t in tiers
            if t.pk in counts
        ],
    )


def _profile(query: Query, *fields: str) -> list[dict[str, Any]]:
    rows = ProfileCount.objects.filter(query.where())
    return list(rows.values(*fields).annotate(n=Sum("members")).order_by("-n"))


def _bars(key: str, title: str, labels: list[str], values: list[int], kind: str = "bar") -> Chart:
    return Chart(key, title, kind, labels, [{"name": _("members"), "data": values, "type": kind}])


def profile_charts(query: Query, tiers: list[Tier]) -> list[Chart]:
    """By tier, channel, gender, age and tenure (one query), store (one), city (one)."""
    rows = _profile(query, "tier_id", "channel", "gender", "age_band", "tenure_band")

    def by(field: str) -> dict[Any, int]:
        out: dict[Any, int] = defaultdict(int)
        for row in rows:
            out[row[field]] += row["n"]
        return out

    tier_n, channel_n, gender_n, age_n, tenure_n = (
        by("tier_id"),
        by("channel"),
        by("gender"),
        by("age_band"),
        by("tenure_band"),
    )
    channels = dict(Channel.choices)
    genders = dict(Gender.choices)
    ages = [band for band, _y in reversed(AGE_BANDS)] + ["unknown"]
    tenures = [band for band, _m in reversed(TENURE_BANDS)]
    stores = _profile(query, "store_id")[:20]
    names = dict(Store.objects.filter(pk__in=[r["store_id"] for r in stores]).values_list("pk", "name"))
    cities = _profile(query, "city")[:15]
    return [
        _bars("by_tier", _("By tier"), [t.name for t in tiers], [tier_n.get(t.pk, 0) for t in tiers], "pie"),
        _bars(
            "by_channel",
            _("By channel of registration"),
            [str(channels.get(c, c)) for c in channel_n],
            list(channel_n.values()),
        ),
        _bars(
            "by_store",
            _("By store of registration (top 20)"),
            [names.get(r["store_id"], _("online / no store")) for r in stores],
            [r["n"] for r in stores],
        ),
        _bars(
            "by_city",
            _("By city (top 15)"),
            [r["city"] or _("unknown") for r in cities],
            [r["n"] for r in cities],
        ),
        _bars(
            "by_age", _("By age"), [str(BAND_LABELS.get(a, a)) for a in ages], [age_n.get(a, 0) for a in ages]
        ),
        _bars(
            "by_gender",
            _("By gender"),
            [str(genders.get(g, g)) for g in gender_n],
            list(gender_n.values()),
            "pie",
        ),
        _bars(
            "by_tenure",
            _("By time as a member"),
            [str(BAND_LABELS.get(t, t)) for t in tenures],
            [tenure_n.get(t, 0) for t in tenures],
        ),
    ]


def growth_chart(query: Query) -> Chart:
    found = daily(MemberDay, query, ["joined"], by=("channel",), tier=None)
    channels = sorted({key[1] for key in found.rows})
    names = dict(Channel.choices)
    return Chart(
        "growth",
        _("New members"),
        "bar",
        [bucket_label(query, b) for b in query.buckets()],
        [
            {
                "name": str(names.get(c, c)),
                "data": found.buckets("joined", query, channel=c),
                "type": "bar",
                "stack": "new",
            }
            for c in channels
        ],
    )


def _month_add(month: datetime.date, months: int) -> datetime.date:
    index = month.year * 12 + month.month - 1 + months
    return datetime.date(index // 12, index % 12 + 1, 1)


def retention_chart(query: Query) -> Chart:
    """Share of each month's new members who bought in each later month (0 = the joining month).
    By store only: the cells are kept by registration store, not by channel or tier."""
    last = yesterday().replace(day=1)
    first = _month_add(last, -(COHORT_MONTHS - 1))
    stores = {"store__in": query.stores} if query.stores is not None else {}
    sizes_rows = (
        MemberDay.objects.filter(day__gte=first, **stores)
        .annotate(month=TruncMonth("day"))
        .values("month")
        .annotate(n=Sum("joined"))
        .order_by()
    )
    sizes = {_as_month(r["month"]): r["n"] for r in sizes_rows}
    cells_rows = (
        CohortMonth.objects.filter(cohort__gte=first, **stores)
        .values("cohort", "month")
        .annotate(n=Sum("buyers"))
        .order_by()
    )
    cohorts = [_month_add(first, i) for i in range(COHORT_MONTHS)]
    data = []
    for row in cells_rows:
        cohort, month = _as_month(row["cohort"]), _as_month(row["month"])
        offset = (month.year - cohort.year) * 12 + month.month - cohort.month
        if cohort in cohorts and 0 <= offset < COHORT_MONTHS and sizes.get(cohort):
            data.append([offset, cohorts.index(cohort), round(row["n"] / sizes[cohort], 4)])
    return Chart(
        "retention",
        _("Retention: share of each month's new members buying N months later"),
        "heatmap",
        [str(i) for i in range(COHORT_MONTHS)],
        [{"name": _("share buying"), "data": data}],
        PERCENT,
        [f"{c:%Y-%m} ({sizes.get(c, 0)})" for c in cohorts],
    )


def _as_month(value: datetime.date | datetime.datetime) -> datetime.date:
    return (value.date() if isinstance(value, datetime.datetime) else value).replace(day=1)


def stage_chart(query: Query) -> Chart:
    run = ScoreRun.objects.order_by("-at").first()
    counts: dict[str, int] = defaultdict(int)
    if run is not None:
        rows = ScoreCount.objects.filter(run=run)
        if query.stores is not None:
            rows = rows.filter(store__in=query.stores)
        for row in rows.values("stage").annotate(n=Sum("members")).order_by():
            counts[row["stage"]] = row["n"]
    return Chart(
        "stages",
        _("Lifecycle stages (last scoring run)"),
        "pie",
        [str(s.label) for s in Stage],
        [{"name": _("members"), "data": [counts[s] for s in Stage]}],
    )


def members_page(query: Query) -> dict[str, Any]:
    tiers = list(Tier.objects.order_by("rank"))
    charts = [
        growth_chart(query),
        tier_chart(query, tiers),
        retention_chart(query),
        stage_chart(query),
        *profile_charts(query, tiers),
    ]
    return {"charts": charts}
