"""The ledger export: signed amounts stay numbers, reasons are quoted, one query per export."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse

from points.models import PointType
from points.resources import EntryResource
from points.services import lots_activate_due, points_adjust, points_earn, points_spend
from tests.conftest import login
from tests.factories import MemberFactory
from tests.members.test_exports import CSV_FORMAT, XLSX_FORMAT, csv_rows, post_export, xlsx_rows
from tests.points.conftest import T0, days, key

pytestmark = pytest.mark.django_db

EXPORT = "admin:points_entry_export"


def ledger(member, actor) -> None:
    points_earn(member=member, point_type="points", amount=300, source="purchase", source_ref="=A1+A2",
                idempotency_key=key(), at=T0)  # fmt: skip
    lots_activate_due(now=T0 + days(7))
    points_spend(member=member, point_type="points", amount=100, idempotency_key=key(), at=T0 + days(8))
    points_adjust(member=member, point_type="points", amount=-12, reason="@SUM(1+1)*cmd", actor=actor,
                  idempotency_key=key(), at=T0 + days(9))  # fmt: skip


def test_entries_csv(client, operator, alice):
    ledger(alice, actor=operator)
    rows = csv_rows(post_export(login(client, operator), EXPORT, EntryResource, CSV_FORMAT))
    assert rows[0] == [
        "ID", "入账时间", "会员编号", "积分类型", "类型", "数量", "变动后余额", "来源", "来源单号", "原因",
        "操作人",
    ]  # fmt: skip
    adjust, spend, earn = rows[1:]  # newest first, as the list shows them
    assert earn[2:6] == [alice.member_number, "积分", "获得", "300"]
    assert earn[8] == "'=A1+A2"
    assert spend[5:7] == ["-100", "200"]  # a signed number, not quoted
    assert adjust[5] == "-12" and adjust[9] == "'@SUM(1+1)*cmd" and adjust[10] == "operator"
    assert earn[1] == "2026-03-01 10:00:00"


def test_entries_xlsx(client, operator, alice):
    ledger(alice, actor=operator)
    response = post_export(login(client, operator), EXPORT, EntryResource, XLSX_FORMAT)
    _header, adjust, spend, earn = xlsx_rows(response)
    assert (spend[5].value, spend[5].data_type) == (-100, "n")
    assert (adjust[9].value, adjust[9].data_type) == ("'@SUM(1+1)*cmd", "s")
    assert earn[1].value == datetime.datetime(2026, 3, 1, 10, 0)


def test_entries_csv_in_english(client, operator, alice):
    ledger(alice, actor=operator)
    response = post_export(login(client, operator), EXPORT, EntryResource, CSV_FORMAT, accept_language="en")
    rows = csv_rows(response)
    assert rows[0][:6] == ["ID", "posted at", "member number", "point type", "kind", "amount"]
    assert rows[-1][4] == "Earn"


def test_who_may_export_the_ledger(client, operator, finance, approver, store_staff):
    for user, status in [(operator, 200), (finance, 200), (approver, 403), (store_staff, 403)]:
        assert login(client, user).get(reverse(EXPORT)).status_code == status, user
    page = login(client, finance).get(reverse("admin:points_entry_changelist")).text
    assert reverse(EXPORT) in page


def test_export_reads_all_entries_in_one_query(client, operator, django_assert_max_num_queries):
    for _ in range(10):
        ledger(MemberFactory(), actor=operator)
    login(client, operator)
    with django_assert_max_num_queries(6):  # session, user, 2 permissions, point types filter, rows
        post_export(client, EXPORT, EntryResource, CSV_FORMAT)


def test_liability_download_quotes_operator_typed_names(client, finance, operator, alice):
    ledger(alice, actor=operator)
    PointType.objects.filter(code="points").update(name="=HYPERLINK(1)")
    url = reverse("admin:points_account_liability")
    text = login(client, finance).get(url, {"format": "csv"}).content.decode("utf-8-sig")
    assert "'=HYPERLINK(1)," in text and "\n=HYPERLINK" not in text
