"""Standing rules in the admin: an earn rule's exclusions typed as text, its history read-only
for everyone, a behaviour rule's cap in words."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns.models import BehaviourRule, EarnRule
from members.purchases.models import EventType
from tests.conftest import approve_changes, login

pytestmark = pytest.mark.django_db


def test_operator_sets_a_rules_exclusions_as_text(en, operator):
    rule = EarnRule.objects.get(point_type__code="points", channel="", store=None)
    login(en, operator)
    url = reverse("admin:campaigns_earnrule_change", args=[rule.pk])
    response = en.post(url, {"point_type": rule.point_type_id, "channel": "", "store": "", "rate": "1",
                             "rounding": "floor", "excluded_categories": "烟酒\n礼品卡", "excluded_skus": "",
                             "active": "on"})  # fmt: skip
    assert response.status_code == 302
    approve_changes()
    rule.refresh_from_db()
    assert rule.excluded_categories == ["烟酒", "礼品卡"] and rule.excluded_skus == []
    assert rule.history.latest().history_user == operator
    page = en.get(reverse("admin:campaigns_earnrule_changelist")).content.decode()
    assert "烟酒, 礼品卡" in page and "default (every channel and store)" in page


def test_history_is_read_only_for_everyone(en, operator, finance):
    """A revert would skip the services; an old value is typed again, and that is recorded."""
    rule = EarnRule.objects.get(point_type__code="points", channel="", store=None)
    form = {"point_type": rule.point_type_id, "channel": "", "store": "", "rate": "2", "rounding": "floor",
            "excluded_categories": "", "excluded_skus": "", "active": "on"}  # fmt: skip
    login(en, operator)
    assert en.post(reverse("admin:campaigns_earnrule_change", args=[rule.pk]), form).status_code == 302
    approve_changes()
    first = rule.history.earliest()
    url = reverse("admin:campaigns_earnrule_simple_history", args=[rule.pk, first.history_id])
    login(en, finance)
    assert en.get(url).status_code == 200
    assert en.post(url, {**form, "rate": "5"}).status_code == 403
    assert EarnRule.objects.get(pk=rule.pk).rate == 2
    login(en, operator)
    assert en.get(url).status_code == 200
    assert en.post(url, {**form, "rate": "1"}).status_code == 403
    assert EarnRule.objects.get(pk=rule.pk).rate == 2


def test_behaviour_rules_list_shows_caps(en, operator):
    BehaviourRule.objects.create(
        event_type=EventType.objects.get_or_create(code="signin", defaults={"name": "每日签到"})[0],
        point_type_id=EarnRule.objects.first().point_type_id, amount=5, cap=1, cap_period="day",
    )  # fmt: skip
    page = login(en, operator).get(reverse("admin:campaigns_behaviourrule_changelist")).content.decode()
    assert "1 times per day" in page
