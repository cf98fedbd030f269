"""The member page and the ledger name what points came from as people say it (升级奖励：银卡,
行为：每日签到, 消费 R000123), never the ledger's keys (tier_upgrade:2962:silver:…, event:98)."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from campaigns.earning.pipeline import event_process, purchase_process
from campaigns.models import BehaviourRule, Campaign
from members.purchases.models import EventType
from members.purchases.services import event_record
from points.models import Entry, PointType
from tests.campaigns.conftest import NOW, buy, campaign
from tests.conftest import login

pytestmark = pytest.mark.django_db

KEYS = ["purchase:", "event:", "tier_upgrade:"]


@pytest.fixture
def history(member, ladder):
    """A sign-in (5 积分), a purchase of 1,000 that reaches 银卡, and its +300 upgrade reward."""
    BehaviourRule.objects.create(
        event_type=EventType.objects.get(code="daily_sign_in"),
        point_type=PointType.objects.get(code="points"),
        amount=5,
        cap=1,
    )
    campaign(name="升级礼", trigger=Campaign.Trigger.TIER_UPGRADE, bonus_points=300)
    event, _created = event_record(
        member=member, event_type="daily_sign_in", key="2026-11-11", occurred_at=NOW
    )
    event_process(event, at=NOW)
    purchase = buy(member, "1000")
    purchase_process(purchase, at=NOW)
    refs = set(Entry.objects.filter(account__member=member).values_list("source_ref", flat=True))
    assert {ref.split(":")[0] for ref in refs} == {"event", "purchase", "tier_upgrade"}  # what is hidden
    return purchase


def test_member_page_names_the_sources_of_the_latest_entries(client, operator, member, history):
    login(client, operator)
    page = html.unescape(
        client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    )
    for words in ["行为：每日签到", f"消费 {history.order_number}", "升级奖励：银卡"]:
        assert words in page, words
    for key in KEYS:
        assert key not in page, key


def test_the_entry_list_names_them_too_in_english(client, operator, member, history):
    login(client, operator)
    response = client.get(reverse("admin:points_entry_changelist"), HTTP_ACCEPT_LANGUAGE="en")
    page = html.unescape(response.content.decode())
    for words in ["Event: 每日签到", f"Purchase {history.order_number}", "Tier upgrade reward: 银卡"]:
        assert words in page, words
    for key in KEYS:
        assert key not in page, key
