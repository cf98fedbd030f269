"""Why a row was rejected reads in the reader's language and names the file's own columns: the
preview stores codes and values, never words (issue 15, section 7)."""

from __future__ import annotations

import csv
import html
import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from members.imports.models import ImportProfile, ImportRow
from members.imports.reasons import errors_text
from members.imports.runner import import_confirm, import_run_execute
from members.models import Store
from tests.conftest import login
from tests.factories import MemberFactory
from tests.imports.conftest import preview, run_file

pytestmark = pytest.mark.django_db

HEADER = "门店编码,门店名称,小票号,会员卡号,手机号,交易类型,应收金额,实收金额,交易时间,原小票号,收银员"
ROWS = [
    "S0000,门店0,R1,VIP1,,退货,-10,-10,2026-11-01 10:00,S-NOPE,C1",  # its sale is nowhere
    "S9,门店9,R2,VIP1,,销售,10,10,2026-11-01 10:00,,C1",  # a store nobody knows
    "S0000,门店0,R3,VIP1,,销售,10,abc,2026-11-01 10:00,,C1",  # not an amount
    "S0000,门店0,R4,,,销售,10,10,2026-11-01 10:00,,C1",  # nobody
]
FILE = "\n".join([HEADER, *ROWS]).encode("gbk")

ENGLISH = {
    2: "原小票号: The original receipt S-NOPE is not imported: import the sale first.",
    3: "门店编码: Unknown store code S9: map it to one of our stores in the import profile's store codes, "
    "or add the store.",
    4: "实收金额: “abc” is not an amount.",
    5: "The row names no member (no card number, phone or UnionID).",
}
CHINESE = {
    2: "原小票号：原小票 S-NOPE 尚未导入：请先导入该笔销售。",
    3: "门店编码：未知门店编码 S9：请在导入格式的“门店编码映射”中把它对应到已有门店，或新增该门店。",
    4: "实收金额：“abc”不是金额。",
    5: "该行未指明会员（没有会员卡号、手机号或 UnionID）。",
}
INTERNAL = ["original_order_number", "store_code:", "paid:", "member:", "order_number:"]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def run(sample_stores):
    # Previewed by someone working in Chinese: what is stored must not be Chinese words.
    with translation.override("zh-hans"):
        return preview("pos_receipts_gbk", FILE, name="退货.csv")


def page(client, run, language: str, name: str = "change") -> str:
    url = reverse(f"admin:imports_importrun_{name}", args=[run.pk])
    return html.unescape(client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode())


def test_the_stored_reasons_are_codes_and_values_not_words(run):
    stored = dict(run.rows.filter(state=ImportRow.State.REJECTED).values_list("number", "errors"))
    assert stored == {
        2: {"original_order_number": [{"code": "sale_missing", "params": {"number": "S-NOPE"}}]},
        3: {"store_code": [{"code": "unknown_store", "params": {"code": "S9"}}]},
        4: {"paid": [{"code": "not_amount", "params": {"value": "abc"}}]},
        5: {"member": [{"code": "no_member_named"}]},
    }


@pytest.mark.parametrize(("language", "expected"), [("en", ENGLISH), ("zh-hans", CHINESE)])
def test_one_stored_row_reads_in_each_readers_language_with_the_files_column(
    client, operator, run, language, expected
):
    login(client, operator)
    for where in ("change", "rejected"):
        shown = page(client, run, language, where)
        for number, reason in expected.items():
            assert f"<td>{number}</td><td>{reason}</td>" in shown, (where, reason)
        for key in INTERNAL:
            assert key not in shown, (where, key)

    url = reverse("admin:imports_importrun_rejected_csv", args=[run.pk])
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == [*HEADER.split(","), "error" if language == "en" else "错误原因"]
    row = "row {}: " if language == "en" else "第 {} 行："
    assert [r[-1] for r in rows[1:]] == [row.format(n) + reason for n, reason in expected.items()]
    assert [r[:-1] for r in rows[1:]] == [line.split(",") for line in ROWS]


def test_rows_stored_as_words_before_codes_still_show(client, operator, run):
    ImportRow.objects.filter(run=run, number=2).update(
        errors={"original_order_number": ["原小票号缺失"], "": ["旧的原因"]}
    )
    shown = page(login(client, operator), run, "en")
    # (PostgreSQL keeps a JSON object's keys shortest first: the row's own reason comes first)
    assert "<td>2</td><td>旧的原因; 原小票号: 原小票号缺失</td>" in shown


def test_a_service_refusal_without_a_code_keeps_its_words():
    errors = {"": [{"code": "text", "params": {"text": "Only 5.00 CNY of this purchase is left to refund."}}]}
    assert errors_text(errors) == "Only 5.00 CNY of this purchase is left to refund."


def test_the_unknown_store_reason_links_operators_to_the_fix_and_they_add_the_store(client, operator, run):
    login(client, operator)
    shown = page(client, run, "en")
    profile = ImportProfile.objects.get(code="pos_receipts_gbk")
    codes_url = reverse("admin:imports_importprofile_change", args=[profile.pk]) + "#id_store_codes"
    add_url = reverse("admin:members_store_add")
    assert f'href="{codes_url}"' in shown and f'href="{add_url}"' in shown
    # an operator (not only an administrator) adds the store; who works there is not theirs to set
    form = client.get(add_url)
    assert form.status_code == 200 and 'name="staff"' not in form.content.decode()
    response = client.post(add_url, {"code": "S9", "name": "门店9", "kind": "own", "is_active": "on"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Store.objects.filter(code="S9").exists()


def test_store_staff_get_the_words_without_links_to_pages_they_cannot_open(client, store_staff, run):
    run.created_by = store_staff
    run.save(update_fields=["created_by"])
    shown = page(login(client, store_staff), run, "en")
    assert ENGLISH[3] in shown
    assert reverse("admin:members_store_add") not in shown and "#id_store_codes" not in shown


@pytest.mark.parametrize(("language", "expected"), [("en", ENGLISH), ("zh-hans", CHINESE)])
def test_import_file_prints_the_reasons_in_the_language_asked(sample_stores, tmp_path, language, expected):
    path = tmp_path / "退货.csv"
    path.write_bytes(FILE)
    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command(
            "import_file", str(path), "--profile", "pos_receipts_gbk", "--language", language, stdout=out
        )
    assert exited.value.code == 1  # rows were rejected
    for number, reason in expected.items():
        assert f"  row {number}: {reason}\n" in out.getvalue()


def test_a_reason_whose_values_no_longer_fit_its_words_still_shows():
    assert errors_text({"": [{"code": "same_number", "params": {"number": "R1"}}]}).startswith(
        "Same number as row"
    )


def test_a_return_above_what_is_left_is_rejected_by_the_refund_rule_and_reads_in_both_languages(
    sample_stores,
):
    """Two returns of one 100 CNY sale previewed side by side (each fits then), imported one
    after the other: the second finds 100 - 60 = 40 CNY left for its 50, and the refund rule
    (``RefundTooLarge``, code too_much) rejects that row alone, under the paid column."""
    MemberFactory(card="VIP1")
    sale = run_file(
        "pos_receipts_gbk",
        "\n".join([HEADER, "S0000,门店0,T1,VIP1,,销售,100,100,2026-11-01 10:00,,C1"]).encode("gbk"),
    )
    assert sale.purchases_created == 1
    first, second = (
        preview(
            "pos_receipts_gbk",
            "\n".join([HEADER, f"S0000,门店0,{n},VIP1,,退货,-{a},-{a},2026-11-02 10:00,T1,C1"]).encode("gbk"),
            name=f"{n}.csv",
        )
        for n, a in (("T2", 60), ("T3", 50))
    )
    for run in (first, second):
        import_confirm(run=run, start=False)
        run = import_run_execute(run.pk)
    assert (run.refunds_created, run.rows_rejected) == (0, 1)
    row = run.rows.get()
    assert row.errors == {"paid": [{"code": "too_much", "params": {"left": "40.00"}}]}
    assert errors_text(row.errors).endswith(": Only 40.00 CNY of this purchase is left to refund.")
    with translation.override("zh-hans"):
        assert "40.00" in errors_text(row.errors) and "left to refund" not in errors_text(row.errors)
