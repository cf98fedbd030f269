"""Points as cash in the admin: operators set the rule without typing JSON, finance reads it in
words; the member page shows the member's holds; finance's report of points used as cash by
store and day, on the page and as CSV/XLSX, closed to store staff."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import openpyxl
import pytest
from django.urls import reverse

from campaigns.earning.facts import purchase_record_and_earn, refund_record_and_earn
from members.models import Member
from members.privacy.exports import personal_data
from points.cash.models import CashRule, Hold
from points.cash.services import hold_create, holds_release_expired
from points.models import PointType
from tests.cash.conftest import T0, basket, earn, local
from tests.conftest import approve_changes, login
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db

RULE = "admin:cash_cashrule_change"
REPORT = reverse("admin:cash_hold_report")


@pytest.fixture
def en(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def test_an_operator_sets_the_rule_by_ticking_and_typing(en, operator, rule):
    store = StoreFactory(code="S01", name="静安店")
    login(en, operator)
    url = reverse(RULE, args=[rule.pk])
    assert en.get(url).status_code == 200
    form = {
        "active": "on", "step": "2.00", "max_share": "30", "min_balance": "1000", "hold_minutes": "10",
        "excluded_categories": "烟酒，礼品卡\n彩票", "excluded_skus": "GC-100, GC-200",
        "channels": ["store", "wechat_mp"], "stores": [store.pk],
    }  # fmt: skip
    response = en.post(url, form)
    assert response.status_code == 302, response.content.decode()[-2000:]
    assert not rule.stores.exists()  # the stores wait for approval with the rest
    diff = en.get(response["Location"]).content.decode()
    assert "静安店" in diff and "every store" not in diff
    approve_changes()  # the rule is programme configuration: a second person approves it
    rule.refresh_from_db()
    assert (rule.step, rule.max_share, rule.min_balance, rule.hold_minutes) == (Decimal("2.00"), 30, 1000, 10)
    assert rule.excluded_categories == ["烟酒", "礼品卡", "彩票"]
    assert rule.excluded_skus == ["GC-100", "GC-200"]
    assert rule.channels == ["store", "wechat_mp"]
    assert list(rule.stores.all()) == [store]
    assert rule.history.count() >= 2  # every edit is kept, with who made it
    # at 0.03 CNY a point, 1 CNY is no whole number of points (33.3), 3 CNY is (100)
    PointType.objects.filter(code="points").update(cny_value=Decimal("0.03"))
    refused = en.post(url, {**form, "step": "1.00"})
    assert refused.status_code == 200
    assert list(refused.context["adminform"].form.errors) == ["step"]
    assert en.post(url, {**form, "step": "3.00"}).status_code == 302
    assert en.get(reverse("admin:cash_cashrule_delete", args=[rule.pk])).status_code == 403


def test_finance_reads_the_rule_in_words(en, finance, rule):
    login(en, finance)
    page = en.get(reverse(RULE, args=[rule.pk])).content.decode()
    assert "烟酒" in page and '["烟酒"]' not in page and "every channel" in page
    assert 'name="_save"' not in page


@pytest.fixture
def paid(rule) -> tuple[Member, Hold]:
    """王磊 paid 30 CNY of a 100 CNY purchase at 静安店 with 3,000 积分 on 5 March; half of it was
    returned on 6 March (1,500 back). Another hold expired unused."""
    member = MemberFactory(name="王磊")
    store = StoreFactory(code="S01", name="静安店")
    earn(member, 8000, local(2026, 2, 1, 9))
    hold = hold_create(
        member=member, points=3000, basket=basket("100.00", store=store), idempotency_key="a", at=T0
    )
    purchase, _created, _award = purchase_record_and_earn(
        points_hold=hold, member=member, source="pos", order_number="JA-1", channel="store", store=store,
        occurred_at=T0, gross_amount=Decimal("100.00"), paid_amount=Decimal("100.00"), now=T0, at=T0,
    )  # fmt: skip
    next_day = local(2026, 3, 6, 15)
    refund_record_and_earn(
        purchase=purchase, source="pos", refund_number="JA-1-R", amount=Decimal("50.00"),
        occurred_at=next_day, at=next_day,
    )  # fmt: skip
    hold_create(member=member, points=500, basket=basket("100.00", store=store), idempotency_key="b", at=T0)
    holds_release_expired(now=T0 + datetime.timedelta(hours=1))
    hold.refresh_from_db()
    return member, hold


def test_the_member_page_shows_the_members_holds(en, operator, paid):
    member, _hold = paid
    login(en, operator)
    page = en.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    assert "Points as cash (latest 20)" in page
    assert "JA-1" in page and "Captured (paid)" in page and "Expired" in page


def test_finance_reads_points_as_cash_by_store_and_day_and_downloads_it(en, finance, paid):
    login(en, finance)
    response = en.get(REPORT, {"first": "2026-03-01", "last": "2026-03-31"})
    assert response.status_code == 200
    rows = response.context["rows"]
    assert rows == [
        ["2026-03-06", "S01", "静安店", "0", "0", "0.00", "1", "1,500", "15.00", "-1,500", "-15.00"],
        ["2026-03-05", "S01", "静安店", "1", "3,000", "30.00", "0", "0", "0.00", "3,000", "30.00"],
        ["total", "", "", "1", "3,000", "30.00", "1", "1,500", "15.00", "1,500", "15.00"],
    ]
    csv = en.get(REPORT, {"first": "2026-03-01", "last": "2026-03-31", "format": "csv"})
    assert csv["Content-Type"].startswith("text/csv")
    text = csv.content.decode("utf-8-sig").splitlines()
    assert text[1] == "2026-03-06,S01,静安店,0,0,0.00,1,1500,15.00,-1500,-15.00"
    xlsx = en.get(REPORT, {"first": "2026-03-01", "last": "2026-03-31", "format": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert [cell.value for cell in sheet[3]][:6] == ["2026-03-05", "S01", "静安店", 1, 3000, 30]
    # one store only, another month: nothing
    other = StoreFactory(code="S02", name="徐汇店")
    assert (
        en.get(REPORT, {"first": "2026-03-01", "last": "2026-03-31", "store": other.pk}).context["rows"] == []
    )
    assert en.get(REPORT, {"first": "2026-04-01", "last": "2026-04-30"}).context["rows"] == []
    wrong = en.get(REPORT, {"first": "2026-03-31", "last": "2026-03-01"})
    assert "last" in wrong.context["form"].errors


def test_who_may_open_the_report_and_the_holds(client, finance, operator, store_staff, paid):
    for user, status in ((finance, 200), (operator, 200), (store_staff, 403)):
        login(client, user)
        assert client.get(REPORT).status_code == status, user
        assert client.get(reverse("admin:cash_hold_changelist")).status_code == status, user
    login(client, operator)
    member, hold = paid
    found = client.get(reverse("admin:cash_hold_changelist"), {"q": member.member_number})
    assert [h.pk for h in found.context["cl"].result_list] == [
        Hold.objects.get(idempotency_key="b").pk,
        hold.pk,
    ]
    assert client.get(reverse("admin:cash_hold_change", args=[hold.pk])).status_code == 200
    assert not CashRule.objects.filter(point_type__code="growth").exists()  # growth never pays


def test_the_members_holds_are_in_their_personal_data_copy(paid):
    member, hold = paid
    rows = personal_data(member)["sections"]["points_holds"]
    assert [(r["pk"], r["points"], r["status"], r["purchase__order_number"]) for r in rows] == [
        (hold.pk, 3000, "captured", "JA-1"),
        (Hold.objects.get(idempotency_key="b").pk, 500, "released", None),
    ]
