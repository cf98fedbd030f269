"""Returns without their original receipt (a vendor's tab-separated GBK export with SALE/RETURN
rows and no 原小票号 column): with the profile's opt-in rule, a RETURN belongs to the same
member's most recent sale at the same store within N days before it that has at least the
returned amount not yet refunded. The preview says which receipt; the job records the refund
against that sale; a return with no such sale is rejected with the reason.

tests/fixtures/pos_sale_return_gbk.tsv, worked by hand (returns match within 7 days):
row 7  VIP001 S0001 -150 on 11-20: T1001 (11-10) is too old, T1002 has only 120, T1004 is at
       S0002, T1005 is another member's: T1003 (200, 11-16).
row 8  VIP001 S0001  -80 on 11-21: T1003 has 50 left after row 7: T1002 (120, 11-15).
row 9  VIP003 S0001  -50: VIP003 bought nothing: rejected.
"""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse

from members.imports.models import ImportProfile, ImportRow, ImportRun
from members.imports.reasons import errors_texts
from members.imports.runner import import_confirm, import_run_execute
from members.imports.services import import_preview
from members.purchases.models import Purchase, Refund
from tests.conftest import login
from tests.factories import MemberFactory, StoreFactory
from tests.imports.conftest import NOW

pytestmark = pytest.mark.django_db

FILE = (Path(__file__).parent.parent / "fixtures" / "pos_sale_return_gbk.tsv").read_bytes()
State = ImportRow.State


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def stores(db):
    return [StoreFactory(code=code, name=name) for code, name in (("S0001", "徐汇店"), ("S0002", "静安店"))]


@pytest.fixture
def vendor(db) -> ImportProfile:
    """The vendor's layout as an operator maps it; returns matched within 7 days."""
    return ImportProfile.objects.create(
        code="vendor_pos",
        name="某POS导出",
        source="vendorpos",
        file_format="tsv",
        encoding="gb18030",
        delimiter="\t",
        columns={
            "store_code": ["门店编码"],
            "order_number": ["小票号"],
            "card": ["会员卡号"],
            "status": ["类型"],
            "paid": ["金额"],
            "occurred_at": ["交易时间"],
        },
        statuses={"SALE": "sale", "RETURN": "return"},
        member_match=["card"],
        return_match_days=7,
    )


def preview(profile: ImportProfile, data: bytes = FILE, name: str = "pos_sale_return_gbk.tsv") -> ImportRun:
    return import_preview(profile=profile, data=data, file_name=name, now=NOW)


def rows(run: ImportRun) -> dict[int, ImportRow]:
    return {row.number: row for row in run.rows.all()}


def day_two(number: str) -> bytes:
    """The next day's export: one RETURN of VIP002 at S0001, 100 CNY."""
    head = "门店编码\t小票号\t会员卡号\t类型\t金额\t交易时间\r\n"
    return (head + f"S0001\t{number}\tVIP002\tRETURN\t-100.00\t2026-11-22 09:00:00\r\n").encode("gbk")


def run_job(run: ImportRun) -> ImportRun:
    import_confirm(run=run, start=False)
    return import_run_execute(run.pk)


def test_the_preview_says_which_receipt_each_return_matched(stores, vendor):
    MemberFactory(card="VIP002")  # an existing member; VIP001 is enrolled by the file's sales
    run = preview(vendor)
    staged = rows(run)
    assert (run.rows_ok, run.rows_rejected) == (7, 1)
    assert staged[7].state == State.PENDING and staged[7].values["original_order_number"] == "T1003"
    assert errors_texts(staged[7].errors) == {
        "": ["Return matched to sale T1003 of 2026-11-16 12:00 (200.00 CNY not yet refunded)."]
    }
    assert staged[8].values["original_order_number"] == "T1002"
    assert errors_texts(staged[8].errors)[""] == [
        "Return matched to sale T1002 of 2026-11-15 11:00 (120.00 CNY not yet refunded)."
    ]
    assert staged[9].state == State.REJECTED
    assert errors_texts(staged[9].errors) == {
        "": [
            "No sale of this member at this store in 7 days before has 50.00 CNY to refund. "
            "Give the original receipt number."
        ]
    }


def test_the_job_records_each_return_against_the_sale_the_preview_named(stores, vendor):
    MemberFactory(card="VIP002")
    run = run_job(preview(vendor))
    assert (run.purchases_created, run.refunds_created, run.rows_rejected) == (5, 2, 1)
    refunds = {
        r.refund_number: (r.purchase.order_number, r.amount)
        for r in Refund.objects.select_related("purchase")
    }
    assert refunds == {"T1006": ("T1003", Decimal("150.00")), "T1007": ("T1002", Decimal("80.00"))}
    refunded = dict(Purchase.objects.values_list("order_number", "refunded_amount"))
    assert refunded["T1003"] == Decimal("150.00") and refunded["T1002"] == Decimal("80.00")
    assert refunded["T1001"] == refunded["T1004"] == refunded["T1005"] == 0
    done = rows(run)
    assert done[7].purchase_id == Purchase.objects.get(order_number="T1003").pk
    assert done[9].state == State.REJECTED


def test_a_return_in_a_later_file_matches_a_sale_imported_before(stores, vendor):
    run_job(preview(vendor))
    run = preview(vendor, day_two("T2001"), name="day2.tsv")
    assert rows(run)[2].values["original_order_number"] == "T1005"
    run = run_job(run)
    refund = Refund.objects.get(refund_number="T2001")
    assert (refund.purchase.order_number, refund.amount, run.refunds_created) == (
        "T1005",
        Decimal("100.00"),
        1,
    )


def test_the_job_decides_again_on_what_is_recorded_when_it_runs(stores, vendor):
    # Between preview and job, T1005 was fully refunded by another import: nothing fits any more.
    run_job(preview(vendor))
    run = preview(vendor, day_two("T2002"), name="day2.tsv")
    Purchase.objects.filter(order_number="T1005").update(refunded_amount=Decimal("400.00"))
    run = run_job(run)
    row = rows(run)[2]
    assert row.state == State.REJECTED and "No sale of this member" in row.message
    assert not Refund.objects.filter(refund_number="T2002").exists()


def test_without_the_option_a_return_needs_its_receipt_number(stores, vendor):
    vendor.return_match_days = None
    vendor.save()
    staged = rows(preview(vendor))
    assert staged[7].state == State.REJECTED
    needs = "A return needs the original receipt number."
    assert errors_texts(staged[7].errors) == {"original_order_number": [needs]}


def test_the_window_counts_back_from_the_return(stores, vendor):
    vendor.return_match_days = 3  # row 7 on 11-20 16:00: T1003 (11-16 12:00) is 4 days before
    vendor.save()
    staged = rows(preview(vendor))
    assert staged[7].state == State.REJECTED
    assert "in 3 days before" in staged[7].message
    assert staged[8].state == State.REJECTED  # 11-21 10:00: its sales are 5 and 6 days before


def test_the_operator_turns_the_rule_on_in_the_profile_form(client, operator, vendor):
    vendor.return_match_days = None
    vendor.save()
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, operator)
    url = reverse("admin:imports_importprofile_change", args=[vendor.pk])
    page = client.get(url)
    assert "match returns without a receipt number within (days)" in page.content.decode().lower()
    form = page.context["adminform"].form
    post = {name: form[name].value() for name in form.fields}
    post = {name: value for name, value in post.items() if value is not None}
    response = client.post(url, {**post, "return_match_days": "0"})
    assert "return_match_days" in response.context["adminform"].form.errors
    response = client.post(url, {**post, "return_match_days": "7"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    vendor.refresh_from_db()
    assert vendor.return_match_days == 7


def test_the_preview_page_shows_the_matched_receipt(client, operator, stores, vendor):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, operator)
    file = io.BytesIO(FILE)
    file.name = "pos_sale_return_gbk.tsv"
    response = client.post(reverse("admin:imports_importrun_upload"), {"profile": vendor.pk, "file": file})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "Return matched to sale T1003 of 2026-11-16 12:00" in page
    assert "No sale of this member at this store in 7 days before" in page
