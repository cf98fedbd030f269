"""Campaigns' figures in the admin: the simulation of a draft, the results against the control
group, and each member's earnings explained on their page and in the award list."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.earning.pipeline import purchase_process
from campaigns.models import Award, AwardLine, Campaign, Participation
from members.purchases.models import EventType
from tests.campaigns.conftest import NOW, buy, campaign
from tests.campaigns.test_admin import AWARDS, change_url, draft, member_page
from tests.conftest import login
from tests.factories import MemberFactory
from tiers.services import tier_override

pytestmark = pytest.mark.django_db

# --- simulation ----------------------------------------------------------------------------------------


def test_simulation_over_the_last_thirty_days_shows_figures_and_writes_nothing(en, author, member):
    when = timezone.now() - datetime.timedelta(days=3)
    other = MemberFactory(name="李娜")
    for who, paid in [(member, "1000"), (other, "500"), (member, "2000")]:
        purchase_process(buy(who, paid, at=when), at=when)
    obj = draft(author, budget_points=2_500)
    login(en, author)
    url = reverse("admin:campaigns_campaign_simulate", args=[obj.pk])
    assert url in en.get(change_url(obj)).content.decode()
    form = en.get(url).context["form"]
    assert form.initial["end"] == timezone.localdate()
    assert form.initial["start"] == timezone.localdate() - datetime.timedelta(days=30)
    response = en.get(url, {"start": str(form.initial["start"]), "end": str(form.initial["end"])})
    page = response.content.decode()
    result = response.context["result"]
    assert (result.purchases, result.sales, result.reached) == (3, Decimal(3500), 2)
    assert result.points == 2_500  # the budget caps the third purchase's double points
    assert result.budget_ran_out_at is not None
    for text in ["3", "¥3,500.00", "2,500", "nothing was written", "Budget runs out"]:
        assert text in page, text
    assert not AwardLine.objects.filter(campaign=obj).exists()
    assert Campaign.objects.get(pk=obj.pk).spent_points == 0


def test_simulation_refusals_show_on_the_form(en, author):
    obj = draft(author)
    login(en, author)
    url = reverse("admin:campaigns_campaign_simulate", args=[obj.pk])
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    response = en.get(url, {"start": "2026-01-01", "end": str(tomorrow)})
    assert response.status_code == 200 and "real purchases only" in response.content.decode()
    response = en.get(url, {"start": "garbage", "end": ""})
    assert response.status_code == 200 and response.context["result"] is None
    event = draft(author, trigger="event", event_type=EventType.objects.first(), multiplier=None,
                  bonus_points=5)  # fmt: skip
    page = en.get(reverse("admin:campaigns_campaign_simulate", args=[event.pk])).content.decode()
    assert "Only purchase campaigns can be simulated" in page
    assert (
        reverse("admin:campaigns_campaign_simulate", args=[event.pk])
        not in en.get(change_url(event)).content.decode()
    )


def test_simulation_page_in_chinese(client, author, member):
    obj = draft(author)
    login(client, author)
    page = client.get(reverse("admin:campaigns_campaign_simulate", args=[obj.pk])).content.decode()
    assert "模拟" in page and "不会写入" in page


# --- results ----------------------------------------------------------------------------------------


def test_results_show_reach_cost_budget_and_uplift_against_the_control_group(en, finance, member):
    obj = campaign(bonus_points=100, budget_points=1_000)
    purchase_process(buy(member, "1000"), at=NOW)
    control = MemberFactory(name="李娜")
    Participation.objects.create(campaign=obj, member=control, control=True, first_at=NOW)
    buy(control, "500")
    login(en, finance)
    response = en.get(reverse("admin:campaigns_campaign_results", args=[obj.pk]))
    rows = {str(label): value for label, value in response.context["rows"]}
    assert rows["participants"] == "1" and rows["control group"] == "1"
    assert rows["points given (net of refunds)"] == "100"
    assert rows["budget left (points)"] == "900" and rows["budget left (CNY)"] == "no budget"
    assert (
        rows["sales per participant"] == "¥1,000.00" and rows["sales per control group member"] == "¥500.00"
    )
    assert rows["uplift"] == "+100.0%"


def test_results_without_a_control_group_say_so(client, operator, member):
    obj = campaign(bonus_points=100)
    purchase_process(buy(member, "1000"), at=NOW)
    login(client, operator)
    page = client.get(reverse("admin:campaigns_campaign_results", args=[obj.pk])).content.decode()
    assert "无对照组" in page and "参与会员" in page


# --- the member page and the award list --------------------------------------------------------


def test_member_page_explains_each_award_line(en, operator, member, ladder):
    tier_override(member=member, tier=ladder["gold"], until=NOW + datetime.timedelta(days=200),
                  reason="status match", at=NOW, actor=None)  # fmt: skip
    campaign(name="双11双倍积分", multiplier=Decimal(2))
    purchase = buy(member, "1234.56")
    purchase_process(purchase, at=NOW)
    page = member_page(login(en, operator), member).content.decode()
    assert "Earnings (latest 20)" in page
    assert f"Purchase {purchase.order_number}" in page
    for text in ["Base +1,234 积分 (1 per CNY of 1234.56 CNY, Round down)", "金卡 ×1.5 +617 积分",
                 "双11双倍积分 +1,234 积分", "+3,085"]:  # fmt: skip
        assert text in page, text


def test_member_page_shows_the_latest_twenty_awards_in_a_pinned_number_of_queries(
    client, operator, member, free_shipping, django_assert_num_queries
):
    campaign(name="满减", bonus_points=100, benefit=free_shipping)  # a coupon line too
    for _ in range(2):
        purchase_process(buy(member, "100"), at=NOW)
    login(client, operator)
    member_page(client, member)
    # what tests/benefits/test_admin.py pins for the member page (30), with the earnings' lines (with
    # their point types and coupons) as one more query now that there are awards
    with django_assert_num_queries(33) as captured:
        member_page(client, member)
    for _ in range(23):
        purchase_process(buy(member, "100"), at=NOW)
    with django_assert_num_queries(len(captured)):
        response = member_page(client, member)
    formset = next(f.formset for f in response.context["inline_admin_formsets"] if f.formset.model is Award)
    newest = list(Award.objects.filter(member=member).order_by("-id").values_list("pk", flat=True)[:20])
    assert [form.instance.pk for form in formset.forms] == newest
    page = response.content.decode()
    assert "积分明细（最近 20 条）" in page and "满减：优惠券 包邮券" in page


def test_award_list_is_read_only_found_by_member_number_with_flat_queries(
    client, finance, member, django_assert_max_num_queries
):
    campaign(bonus_points=100)
    purchase_process(buy(member, "300"), at=NOW)
    login(client, finance)
    client.get(AWARDS)
    # session, user, 2x permissions, the member's id, capped count, page (members and facts
    # joined), the page's lines
    with django_assert_max_num_queries(9):
        response = client.get(AWARDS, {"q": member.member_number})
    assert len(response.context["cl"].result_list) == 1
    page = response.content.decode()
    assert "+400" in page and "张*" in page and "张伟" not in page  # finance sees members masked
    for _ in range(5):
        purchase_process(buy(MemberFactory(), "300"), at=NOW)
    # unfiltered: the same, less the member's id, plus PostgreSQL's row estimate of the table
    with django_assert_max_num_queries(9):
        assert len(client.get(AWARDS).context["cl"].result_list) == 6
    award = Award.objects.filter(member=member).get()
    detail = client.get(reverse("admin:campaigns_award_change", args=[award.pk])).content.decode()
    assert "+100" in detail and 'name="_save"' not in detail
    assert client.get(reverse("admin:campaigns_award_add")).status_code == 403
