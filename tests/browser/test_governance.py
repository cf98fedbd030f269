"""An operator doubles the earning rate and an approver approves it, in a real browser, in
Chinese: the rate changes only after the second person's click. Screenshots in $BROWSER_SCREENSHOTS."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns.models import EarnRule
from config.common.models import ConfigChange
from tests.browser.test_journeys import log_in
from tests.browser.test_oneid import SHOTS

pytestmark = pytest.mark.browser


def test_an_operator_proposes_and_an_approver_approves_on_the_change_page(
    page, live_server, operator, approver
):
    from playwright.sync_api import expect

    rule = EarnRule.objects.get(point_type__code="points", channel="", store=None)
    SHOTS.mkdir(exist_ok=True)
    log_in(page, live_server, operator)
    page.goto(reverse("admin:campaigns_earnrule_change", args=[rule.pk]))
    page.locator("#id_rate").fill("2")
    page.locator("#id_change_note").fill("双十二双倍积分")
    page.screenshot(path=str(SHOTS / "change-1-draft.png"), full_page=True)
    page.locator("#id_change_note").press("Enter")
    page.wait_for_url("**/configchange/*/change/")
    expect(page.locator("body")).to_contain_text("待审批")
    page.screenshot(path=str(SHOTS / "change-2-waiting.png"), full_page=True)
    assert EarnRule.objects.get(pk=rule.pk).rate == 1
    change = ConfigChange.objects.get()

    page.context.clear_cookies()
    log_in(page, live_server, approver)
    page.goto(reverse("admin:common_configchange_change", args=[change.pk]))
    expect(page.locator("body")).to_contain_text("变更前")
    page.screenshot(path=str(SHOTS / "change-3-approver.png"), full_page=True)
    page.locator("button[value=approve]").click()
    expect(page.locator("body")).to_contain_text("已生效")
    page.screenshot(path=str(SHOTS / "change-4-applied.png"), full_page=True)
    assert EarnRule.objects.get(pk=rule.pk).rate == 2
