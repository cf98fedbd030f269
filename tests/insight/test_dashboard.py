"""The dashboard's KPI cards on the hand-built programme (tests/insight/conftest.py)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from campaigns.insight import dashboard
from campaigns.insight.models import InsightSettings
from campaigns.insight.query import Query
from tests.insight.conftest import D1, D2, roll_up

pytestmark = pytest.mark.django_db


@pytest.fixture
def rolled(programme, monkeypatch):
    roll_up()
    # "yesterday" is 11-11: the active counts of the period's last day are rolled up
    monkeypatch.setattr(dashboard, "yesterday", lambda: D2)
    return programme


def cards(query: Query) -> dict[str, dashboard.Kpi]:
    return {k.key: k for k in dashboard.kpis(dashboard.fetch(query), InsightSettings.current())}


def test_every_card_of_the_two_days(rolled):
    kpi = cards(Query(D1, D2))
    assert (kpi["members"].value, kpi["members"].previous) == (3, 1)  # 11-08..09: only m3 had joined
    assert kpi["members"].change == Decimal(2)  # +200 %
    assert (kpi["joined"].value, kpi["joined"].previous) == (2, 0)
    assert kpi["active"].value == 3  # one-day window (closest to two days): m1, m3 bought, m2 signed in
    assert kpi["mau"].value == 3
    assert kpi["sales"].value == Decimal("420.00")  # 100 + 250.50 + 80 + 40 − 50.50
    assert kpi["orders"].value == 4
    assert kpi["aov"].value == Decimal("117.625")  # 470.50 ÷ 4
    # store A reported 1,000.00 in 10 orders on 11-10, of which m1's 100.00 in one order
    assert kpi["share"].value == Decimal("0.1")
    assert kpi["aov_others"].value == Decimal(100)  # 900.00 ÷ 9
    assert (kpi["issued"].value, kpi["redeemed"].value, kpi["expired"].value) == (470, 60, 0)
    assert kpi["redemption_rate"].value == Decimal(60) / Decimal(470)
    assert kpi["liability"].value == Decimal("4.10")  # (470 − 60) × 0.01
    assert kpi["cost_share"].value == Decimal("4.70") / Decimal("420.00")  # 470 × 0.01 ÷ net sales


def test_filters_narrow_every_card(rolled):
    a, silver = rolled["a"].pk, rolled["ladder"]["silver"].pk
    at_a = cards(Query(D1, D2, stores=(a,)))
    # members by where they joined (m1, m3); sales by where they bought (p1, p4)
    assert (at_a["members"].value, at_a["sales"].value, at_a["orders"].value) == (2, Decimal("140.00"), 2)
    assert at_a["issued"].value == 220  # points of A's members: m1 100 + 40, m3 80
    in_silver = cards(Query(D1, D2, tier=silver))
    assert (in_silver["members"].value, in_silver["sales"].value) == (1, Decimal("80.00"))
    online = cards(Query(D1, D2, channel="wechat_mp"))
    assert (online["members"].value, online["sales"].value, online["active"].value) == (
        1,
        Decimal("200.00"),
        1,
    )


def test_the_charts_have_one_value_per_day(rolled):
    query = Query(D1, D2)
    charts = {c.key: c for c in dashboard.charts(dashboard.fetch(query))}
    assert charts["sales"].categories == ["11-10", "11-11"]
    assert charts["sales"].series[0]["data"] == [350.5, 69.5]  # 11-11: 120.00 − 50.50
    assert charts["points"].series[1]["data"] == [0, 60]
    week = Query(D1 - datetime.timedelta(days=60), D2)
    assert week.grain == "week" and len(dashboard.charts(dashboard.fetch(week))[0].categories) == 10


def test_retention_cells_are_the_share_of_each_months_joiners_buying(rolled, monkeypatch):
    from campaigns.insight.pages import members

    monkeypatch.setattr(members, "yesterday", lambda: D2)
    chart = members.retention_chart(Query(D1, D2))
    rows = {label.split(" ")[0]: index for index, label in enumerate(chart.y_categories)}
    assert (
        chart.y_categories[rows["2026-11"]] == "2026-11 (2)"
        and chart.y_categories[rows["2026-10"]] == "2026-10 (1)"
    )
    # November's two joiners (m1, m2) both bought in November; October's (m3) bought a month later
    assert sorted(chart.series[0]["data"]) == sorted([[0, rows["2026-11"], 1.0], [1, rows["2026-10"], 1.0]])
    at_b = members.retention_chart(Query(D1, D2, stores=(rolled["b"].pk,)))
    assert at_b.series[0]["data"] == []  # nobody joined at store B
