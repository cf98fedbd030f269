"""The risk desk in a real browser, in Chinese: an operator sets a rule by choosing from lists
(it waits for approval) and runs another over past days (figures and a chart); an approver sees
the badge, reads a case's evidence, adds a note and releases it.

Screenshots go to $BROWSER_SCREENSHOTS (default .screenshots/ in the checkout)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.earning.facts import purchase_record_and_earn
from campaigns.models import AwardReview, RiskCase, RiskRule
from config.common.models import ConfigChange
from members.models import Channel
from tests.api.conftest import make_partner
from tests.browser.test_journeys import log_in
from tests.browser.test_oneid import SHOTS
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def busy_member(db):
    """A member with four purchases this morning, and a rule (more than 2 a day: hold)."""
    RiskRule.objects.create(
        name="单会员一天消费超过2笔", kind="velocity", measure="purchases", scope="member", window="day",
        threshold=2, action="hold", score=40,
    )  # fmt: skip
    store, member = StoreFactory(code="S01", name="静安店"), MemberFactory(name="王小明")
    morning = timezone.now() - datetime.timedelta(hours=2)
    for n in range(4):
        purchase_record_and_earn(
            member=member, source="pos", order_number=f"JA-{n}", channel=Channel.STORE, store=store,
            occurred_at=morning + datetime.timedelta(minutes=n), gross_amount=Decimal("88.00"),
            paid_amount=Decimal("88.00"),
        )  # fmt: skip
    return member


def test_operator_sets_a_rule_and_simulates_one(page, live_server, operator, busy_member):
    from playwright.sync_api import expect

    SHOTS.mkdir(exist_ok=True)
    log_in(page, live_server, operator)
    page.goto("/admin/campaigns/riskrule/add/")
    page.locator("#id_name").fill("同一设备一小时注册超过10人")
    page.locator("#id_kind").select_option("velocity")
    page.locator("#id_threshold").fill("10")
    page.locator("#id_action").select_option("freeze")
    page.locator("#id_measure").select_option("enrolments")
    page.locator("#id_scope").select_option("device")
    page.locator("#id_window").select_option("hour")
    page.screenshot(path=str(SHOTS / "risk-1-new-rule.png"), full_page=True)
    page.locator("button[name=_save], input[name=_save]").first.click()
    expect(page.locator("body")).to_contain_text("审批")
    page.screenshot(path=str(SHOTS / "risk-2-waiting.png"), full_page=True)
    assert ConfigChange.objects.filter(status="submitted").count() == 1
    assert RiskRule.objects.count() == 1  # the new rule waits for a second person

    page.goto("/admin/campaigns/riskrule/")
    page.get_by_role("link", name="模拟").first.click()
    today = timezone.localdate()
    page.locator("#id_start").fill(str(today - datetime.timedelta(days=7)))
    page.locator("#id_end").fill(str(today))
    page.locator("#simulation-form input[type=submit]").click()
    result = page.locator("#simulation-result")
    expect(result).to_contain_text("命中会员")
    expect(page.locator(".insight-chart canvas")).to_have_count(1)
    page.screenshot(path=str(SHOTS / "risk-3-simulation.png"), full_page=True)


def test_approver_reads_a_case_and_releases_it(page, live_server, approver, busy_member):
    from playwright.sync_api import expect

    SHOTS.mkdir(exist_ok=True)
    log_in(page, live_server, approver)
    page.goto("/admin/campaigns/riskcase/")
    queue = page.locator("#result_list")
    expect(queue).to_contain_text("单会员一天消费超过2笔")
    expect(queue).to_contain_text("暂扣会员的奖励待审核")
    page.screenshot(path=str(SHOTS / "risk-4-queue.png"), full_page=True)
    first = RiskCase.objects.order_by("pk").first()
    page.goto(f"/admin/campaigns/riskcase/{first.pk}/change/")
    expect(page.locator("body")).to_contain_text("JA-2")
    page.locator("#id_add_note").fill("已致电会员，确为公司团购")
    page.screenshot(path=str(SHOTS / "risk-5-case.png"), full_page=True)
    page.locator("button[name=_save], input[name=_save]").first.click()
    expect(page.locator("body")).to_contain_text("备注已添加")

    page.goto("/admin/campaigns/riskcase/")
    page.locator("#action-toggle").check()
    page.locator("select[name=action]").select_option("release")
    page.locator("button[name=index], input[name=index]").first.click()
    expect(page.locator("body")).to_contain_text("已放行 2 个案件")
    page.screenshot(path=str(SHOTS / "risk-6-released.png"), full_page=True)
    assert set(RiskCase.objects.values_list("status", flat=True)) == {"released"}
    assert not AwardReview.objects.filter(status="held").exists()


def test_approver_reads_a_guessing_case_which_names_who_tried(page, live_server, approver):
    """A partner's script tried 40 made-up codes at 03:00: the case names the partner, lists the
    codes masked, has no member and cannot be frozen; the approver rejects it."""
    from playwright.sync_api import expect

    from benefits.coupons import coupon_miss_record
    from campaigns.risk.scan import risk_scan

    SHOTS.mkdir(exist_ok=True)
    partner, _key = make_partner("mini-x", "X001")
    RiskRule.objects.create(
        name="同一合作方一小时查询无效券码超过30次", kind="coupon_guessing", scope="partner", window="hour",
        threshold=30, action="alert", score=40,
    )  # fmt: skip
    day = timezone.localdate() - datetime.timedelta(days=1)
    night = timezone.make_aware(datetime.datetime.combine(day, datetime.time(3)))
    for n in range(40):
        coupon_miss_record(f"GX{n:06d}ABCD", partner=partner, at=night + datetime.timedelta(seconds=30 * n))
    risk_scan(day)
    case = RiskCase.objects.get()

    log_in(page, live_server, approver)
    page.goto("/admin/campaigns/riskcase/")
    expect(page.locator("#result_list")).to_contain_text("mini-x Partner mini-x")
    page.goto(f"/admin/campaigns/riskcase/{case.pk}/change/")
    body = page.locator("body")
    expect(body).to_contain_text("试用的无效券码")
    expect(body).to_contain_text("GX00****")
    expect(body).not_to_contain_text("GX000001ABCD")
    page.screenshot(path=str(SHOTS / "risk-7-guessing-case.png"), full_page=True)

    page.goto("/admin/campaigns/riskcase/")
    page.locator("#action-toggle").check()
    page.locator("select[name=action]").select_option("freeze")
    page.locator("button[name=index], input[name=index]").first.click()
    expect(body).to_contain_text("不是会员的案件")
    page.locator("#action-toggle").check()
    page.locator("select[name=action]").select_option("reject")
    page.locator("button[name=index], input[name=index]").first.click()
    expect(body).to_contain_text("已驳回 1 个案件")
    page.screenshot(path=str(SHOTS / "risk-8-guessing-rejected.png"), full_page=True)
    assert RiskCase.objects.get().status == "rejected"
