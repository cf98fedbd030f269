"""The insight pages as their users open them: each answers within its query budget, store staff
see their own stores' figures only, and each role sees the pages it may."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from campaigns.insight import dashboard
from campaigns.insight.admin import PAGES
from members.scoring.services import members_score
from tests.insight.conftest import D1, D2, roll_up

pytestmark = pytest.mark.django_db

#: The most queries a page may take, whatever the data (sessions and permissions included).
BUDGET = 20


@pytest.fixture
def rolled(programme, monkeypatch):
    roll_up()
    members_score()
    monkeypatch.setattr(dashboard, "yesterday", lambda: D2)
    return programme


def period(**extra) -> dict:
    return {"period": "custom", "start": D1.isoformat(), "end": D2.isoformat(), **extra}


@pytest.mark.parametrize("page", [name for name, _t, _p in PAGES])
def test_every_page_within_its_query_budget(
    page, rolled, client, administrator, django_assert_max_num_queries
):
    client.force_login(administrator)
    client.get(reverse(f"admin:insight_{page}"))  # the session and the permission caches
    with django_assert_max_num_queries(BUDGET):
        response = client.get(reverse(f"admin:insight_{page}"), period(channel="store"))
    assert response.status_code == 200
    assert b'id="insight-charts"' in response.content


def test_store_staff_see_their_stores_figures_only(rolled, client, store_staff):
    rolled["a"].staff.add(store_staff)
    client.force_login(store_staff)
    page = client.get(reverse("admin:insight_dashboard"), period())
    cards = {k.key: k for k in page.context["kpis"]}
    # joined at A: m1, m3; bought at A: p1 100.00 and p4 40.00
    assert (cards["members"].value, str(cards["sales"].value)) == (2, "140.00")
    assert list(page.context["form"].fields["store"].queryset) == [rolled["a"]]
    # asking for store B is refused by the form and answered for their own stores
    other = client.get(reverse("admin:insight_dashboard"), period(store=rolled["b"].pk))
    assert {k.key: k for k in other.context["kpis"]}["members"].value == 2
    stores = client.get(reverse("admin:insight_stores"), period()).context["tables"][0]
    assert [row[0] for row in stores.rows] == ["A A店"]
    for name in ("rfm", "points", "tiers", "campaigns", "finance"):
        assert client.get(reverse(f"admin:insight_{name}")).status_code == 403, name


def test_the_first_page_is_the_dashboard_for_who_may_see_it(rolled, client, operator, approver, make_user):
    client.force_login(operator)
    assert b'data-kpi="members"' in client.get(reverse("admin:index")).content
    nobody = make_user(None, "nobody")
    client.force_login(nobody)
    assert b'data-kpi="members"' not in client.get(reverse("admin:index")).content


def test_each_chart_downloads_as_csv(rolled, client, operator):
    client.force_login(operator)
    text = client.get(reverse("admin:insight_dashboard"), period(csv="sales")).content.decode("utf-8-sig")
    lines = text.strip().splitlines()
    assert lines[1:] == ["11-10,350.5,2", "11-11,69.5,2"]
    assert client.get(reverse("admin:insight_dashboard"), period(csv="nope")).status_code == 404


def test_the_stores_table_and_the_promotion_rate(rolled, client, operator):
    client.force_login(operator)
    table = client.get(reverse("admin:insight_stores"), period()).context["tables"][0]
    rows = {row[0]: row[1:] for row in table.rows}
    # store A: members m1 and m3 (joined there), m1 joined in the period; p1 and p4 bought there
    # (140.00); its share is on the day it reported only: 100.00 of 1,000.00; points of its
    # members: 100 + 40 + 80 issued, 60 redeemed
    assert rows["A A店"] == [2, 1, 2, Decimal("140.00"), Decimal("0.1"), 220, 60, 0]
    assert rows["B B店"] == [0, 0, 1, Decimal("80.00"), None, 0, 0, 0]
    tiers = client.get(reverse("admin:insight_tiers"), period()).context
    # m3 moved up; who could: m3 (below the top on 11-09) and the two who joined in the period
    assert (tiers["upgrades"], tiers["downgrades"], tiers["promotion_rate"]) == (1, 0, Decimal(1) / 3)


def test_the_behaviour_page(rolled, client, operator):
    from campaigns.insight.snapshots import behaviour_snapshot

    behaviour_snapshot()
    client.force_login(operator)
    page = client.get(reverse("admin:insight_behaviour"), period()).context
    charts = {c.key: c for c in page["charts"]}
    # in the scoring window m2 and m3 bought once, m1 twice (11-10 12:00 and 11-11 23:30: 1.5 days apart)
    frequency = dict(zip(charts["frequency"].categories, charts["frequency"].series[0]["data"], strict=True))
    assert (frequency["1"], frequency["2"], sum(frequency.values())) == (2, 1, 3)
    assert charts["interval"].series[0]["data"][0] == 1 and sum(charts["interval"].series[0]["data"]) == 1
    assert page["repurchase_rate"] == Decimal(1) / 3
    # average order by the tier held that day: 普通会员 (100 + 250.50 + 40) ÷ 3, 银卡 80 ÷ 1
    assert charts["aov_tier"].series[0]["data"][:2] == [130.17, 80.0]
