"""An operator's afternoon in a real browser, in Chinese: build a segment and watch its count,
point the shipped win-back journey at it, submit it; an approver approves; the operator
schedules it; the job runs; the operator reads what the recording provider captured.
Screenshots go to $BROWSER_SCREENSHOTS (default .screenshots/ in the checkout)."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.journeys.models import Journey, JourneyEntry
from campaigns.journeys.services import journeys_run
from campaigns.segments.models import Segment
from members.messaging.models import MessagingSettings, RecordedMessage
from members.models import Member
from members.purchases.models import Purchase
from tests.factories import MemberFactory

pytestmark = pytest.mark.browser

PASSWORD = "pw-for-tests-2026"
SHOTS = Path(os.environ.get("BROWSER_SCREENSHOTS", Path(__file__).resolve().parents[2] / ".screenshots"))


@pytest.fixture
def lapsed(transactional_db):
    """Two Shanghai members silent for 100 days, one who bought last week, one in Beijing."""
    settings = MessagingSettings.current()
    settings.quiet_from = settings.quiet_until  # the run sends whatever the hour of the test
    settings.save()
    now = timezone.now()
    people = []
    for name, city, days in (
        ("沉默甲", "上海", 100),
        ("沉默乙", "上海", 120),
        ("常客", "上海", 7),
        ("北京客", "北京", 100),
    ):
        member = MemberFactory(name=name, city=city, consents={"sms": True})
        Purchase.objects.create(
            source="pos", order_number=f"o-{name}", channel="store", member=member,
            occurred_at=now - datetime.timedelta(days=days), gross_amount=88, paid_amount=88,
        )  # fmt: skip
        people.append(member)
    return people


def log_in(page, live_server, user) -> None:
    from playwright.sync_api import expect

    page.goto("/admin/login/")
    page.locator("#id_username").fill(user.username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("#id_password").press("Enter")
    expect(page).to_have_url(f"{live_server.url}/admin/")


def test_operator_builds_a_segment_and_runs_the_win_back_journey(
    page, browser, live_server, lapsed, operator, approver
):
    from playwright.sync_api import expect

    SHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server, operator)

    # a segment: Shanghai, silent for at least 90 days; the count follows the form
    page.goto(reverse("admin:segments_segment_add"))
    page.locator("#id_name").fill("上海沉默会员")
    conditions = (("city", "is", "text", "上海"), ("silent", "gte", "days", "90"))
    for index, (field, operator_value, name, value) in enumerate(conditions):
        page.locator("#conditions-group a.add-row").first.click()
        prefix = f"conditions-{index}-"
        page.locator(f"select[name='{prefix}field']").select_option(field)
        page.locator(f"select[name='{prefix}operator']").select_option(operator_value)
        page.locator(f"input[name='{prefix}{name}']").fill(value)
        page.locator(f"input[name='{prefix}{name}']").press("Tab")
    expect(page.locator("#segment-count [data-count]")).to_have_text("2")
    page.screenshot(path=str(SHOTS / "journey-1-segment.png"), full_page=True)
    page.locator("[name='_save']").click()
    segment = Segment.objects.get(name="上海沉默会员")

    # the shipped win-back journey, pointed at it, without a control group, submitted
    journey = Journey.objects.get(code="win-back")
    Journey.objects.filter(pk=journey.pk).update(created_by=operator)
    page.goto(reverse("admin:journeys_journey_change", args=[journey.pk]))
    page.locator("#id_segment").select_option(str(segment.pk))
    page.locator("#id_holdout_percent").fill("0")
    page.locator("[name='_continue']").click()
    expect(page.locator("#campaign-lifecycle")).to_contain_text("草稿")
    page.locator("button[value='submit']").click()
    expect(page.locator("#campaign-lifecycle")).to_contain_text("已提交审批")

    # the approver, in a browser of their own
    other = browser.new_context(base_url=live_server.url, locale="zh-CN")
    boss = other.new_page()
    log_in(boss, live_server, approver)
    boss.goto(reverse("admin:journeys_journey_change", args=[journey.pk]))
    boss.locator("button[value='approve']").click()
    expect(boss.locator("#campaign-lifecycle")).to_contain_text("已批准")
    other.close()

    page.goto(reverse("admin:journeys_journey_change", args=[journey.pk]))
    page.locator("button[value='schedule']").click()
    expect(page.locator("#campaign-lifecycle")).to_contain_text("进行中")
    page.goto(reverse("admin:journeys_journey_results", args=[journey.pk]) + "?audience=1")
    expect(page.locator("#audience-count")).to_contain_text("2")
    page.screenshot(path=str(SHOTS / "journey-2-audience.png"), full_page=True)

    journeys_run()  # the job (every ten minutes in production)

    recorded = RecordedMessage.objects.order_by("pk")
    assert [r.message.member.name for r in recorded] == ["沉默甲", "沉默乙"]
    assert JourneyEntry.objects.filter(journey=journey).count() == 2
    page.goto(reverse("admin:messaging_recordedmessage_changelist"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("好久不见！送您一张回归礼券 满100减20")
    page.screenshot(path=str(SHOTS / "journey-3-recorded.png"), full_page=True)
    page.goto(reverse("admin:journeys_journey_results", args=[journey.pk]))
    expect(page.locator("#journey-results")).to_contain_text("2")
    page.screenshot(path=str(SHOTS / "journey-4-results.png"), full_page=True)
    assert Member.objects.filter(status=Member.Status.ACTIVE).count() == 4
    assert not errors
