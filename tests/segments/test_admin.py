"""The segment page: conditions typed as rows, the live count of the form as it stands (nothing
saved), the count kept on save, and who may do it."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.urls import reverse
from django.utils import translation

from campaigns.journeys.defaults import WIN_BACK_SEGMENT
from campaigns.segments.models import Condition, Segment, TagRule
from members.models import Member, Tag
from tests.conftest import login
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db


def form(*rows: dict[str, str], **segment: str) -> dict[str, str]:
    data = {
        "name": "上海会员", "description": "", "kind": "dynamic", "groups_logic": "all",
        "conditions_logic": "all", "conditions-TOTAL_FORMS": str(len(rows)),
        "conditions-INITIAL_FORMS": "0", "conditions-MIN_NUM_FORMS": "0", "conditions-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    data.update(segment)
    for index, row in enumerate(rows):
        data.update({f"conditions-{index}-{key}": value for key, value in {"group": "1", **row}.items()})
    return data


@pytest.fixture
def shanghai(db):
    store = StoreFactory(code="SH1")
    people = [MemberFactory(city="上海", registration_store=store) for _ in range(3)]
    MemberFactory(city="北京")
    Member.objects.filter(pk=people[2].pk).update(status=Member.Status.FROZEN)
    return store, people


def test_the_count_follows_the_form_and_saves_nothing(client, operator, shanghai):
    store, people = shanghai
    login(client, operator)
    url = reverse("admin:segments_segment_count")
    answer = client.post(url, form({"field": "city", "operator": "is", "text": "上海"})).json()
    assert answer["count"] == 2  # the frozen third is in no segment
    assert [row["member"].split()[0] for row in answer["members"]] == [p.member_number for p in people[1::-1]]
    assert not Segment.objects.exclude(name=WIN_BACK_SEGMENT).exists()  # only the one shipped
    # "is not" the store: the Beijing member only
    answer = client.post(url, form({"field": "store", "operator": "is_not", "store": str(store.pk)})).json()
    assert answer["count"] == 1


def test_a_row_missing_its_value_is_named(client, operator, shanghai):
    login(client, operator)
    answer = client.post(
        reverse("admin:segments_segment_count"),
        form(
            {"field": "city", "operator": "is", "text": "上海"},
            {"field": "spend", "operator": "gte", "number": "100"},
        ),
    ).json()
    # in the reader's language (the admin's is zh-hans)
    assert answer == {"error": "第 2 个条件，天数：“近 N 天消费金额（元）”需要填写此项。"}
    answer = client.post(
        reverse("admin:segments_segment_count"), form({"field": "city", "operator": "gte", "text": "上海"})
    ).json()
    assert answer == {"error": "第 1 个条件，运算：该字段可用：是 / 不是。"}


def test_saving_keeps_the_count_and_who_made_it(client, operator, shanghai):
    login(client, operator)
    response = client.post(
        reverse("admin:segments_segment_add"),
        form(
            {"field": "city", "operator": "is", "text": "上海"},
            {"field": "rfm", "operator": "is_not", "choice": "rfm:none"},
        ),
    )
    assert response.status_code == 302
    segment = Segment.objects.exclude(name=WIN_BACK_SEGMENT).get()
    assert (segment.member_count, segment.created_by) == (2, operator)
    with translation.override("en"):
        described = [str(c) for c in Condition.objects.filter(segment=segment)]
    assert described == [
        "City is 上海",
        "RFM segment is not No purchase in the window",
    ]


def test_store_staff_and_approvers_cannot_count(client, store_staff, approver, shanghai):
    for user in (store_staff, approver):
        login(client, user)
        assert client.post(reverse("admin:segments_segment_count"), form()).status_code == 403
    login(client, store_staff)
    assert client.get(reverse("admin:segments_segment_changelist")).status_code == 403


def test_applying_a_tag_rule_now_tags_its_segment_and_logs_who(client, operator, shanghai):
    _store, people = shanghai
    segment = Segment.objects.create(name="上海")
    Condition.objects.create(segment=segment, field="city", operator="is", text="上海")
    tag = Tag.objects.create(name="上海会员")
    rule = TagRule.objects.create(tag=tag, segment=segment)
    login(client, operator)
    response = client.post(
        reverse("admin:segments_tagrule_changelist"), {"action": "apply_now", "_selected_action": [rule.pk]}
    )
    assert response.status_code == 302
    assert set(Member.objects.filter(tags=tag)) == set(people[:2])  # the frozen third is in no segment
    entry = LogEntry.objects.get(object_id=str(rule.pk))
    assert (entry.user, entry.change_message) == (operator, "已执行：2 位打上标签，0 位移除标签")


def test_a_count_that_takes_too_long_is_cut_short_with_a_reason(client, operator, shanghai, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("statement_timeout is PostgreSQL's")
    monkeypatch.setattr("campaigns.segments.admin.COUNT_TIMEOUT_MS", 1)
    monkeypatch.setattr(
        "campaigns.segments.admin.conditions_members",
        lambda *a, **k: Member.objects.extra(where=["pg_sleep(0.05) IS NOT NULL"]),
    )
    login(client, operator)
    answer = client.post(
        reverse("admin:segments_segment_count"), form({"field": "city", "operator": "is", "text": "上海"})
    )
    assert answer.json() == {"error": "统计耗时过长：请先保存分群，列表中会显示人数。"}
