"""Each shared sample through its shipped profile, with exact results; then idempotency.

Expected points are worked out here from the file's own numbers (1 point and 1 growth per CNY
paid, rounded down, the default rules; a refund takes back its share rounded half up), not read
back from the code under test.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Sum

from members.imports.models import ImportRow, ImportRun
from members.imports.profiles import SHIPPED, parse_rows
from members.imports.reasons import errors_texts
from members.models import Identity, Member
from members.purchases.models import Purchase, Refund
from points.models import Account, Entry
from points.selectors import ledger_problems
from tests.imports.conftest import NOW, TZ, expected_points, preview, run_file, sample_bytes

pytestmark = pytest.mark.django_db
POS_REJECTED = {39, 40, 115, 119, 139}


def pos_expected() -> tuple[int, int, int]:
    return expected_points(sample_bytes("pos_receipts_gbk"), POS_REJECTED)


def people_in(code: str) -> int:
    """New members the file should enrol: its card/phone pairs joined into people."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    for row in parse_rows(SHIPPED[code], sample_bytes(code), now=NOW, tz=TZ):
        if row.ok and row.kind != "return":
            keys = [f"{name}:{row.values[name]}" for name in ("card", "mobile") if row.values.get(name)]
            for key in keys[1:]:
                parent[root(key)] = root(keys[0])
            root(keys[0])
    return len({root(key) for key in parent})


def balances() -> dict[str, int]:
    totals = Account.objects.values_list("point_type__code").annotate(total=Sum("pending") + Sum("available"))
    return {code: int(total) for code, total in totals}


def test_pos_sample_imports_exactly(sample_stores):
    run = preview("pos_receipts_gbk")
    assert (run.rows_total, run.rows_ok, run.rows_duplicate, run.rows_rejected, run.rows_skipped) == (
        201, 195, 0, 5, 1,
    )  # fmt: skip
    rejected = dict(run.rows.filter(state=ImportRow.State.REJECTED).values_list("number", "errors"))
    assert set(rejected) == POS_REJECTED
    assert all("phone number" in errors_texts(errors)["mobile"][0] for errors in rejected.values())
    assert errors_texts(run.rows.get(number=202).errors) == {"": ["totals row"]}

    run = run_file_confirmed(run)
    points, sales, returns = pos_expected()
    assert (sales, returns) == (186, 9)
    assert run.status == ImportRun.Status.DONE
    assert (run.purchases_created, run.refunds_created, run.rows_rejected) == (186, 9, 5)
    assert run.members_created == people_in("pos_receipts_gbk") == Member.objects.count()
    assert run.points_awarded == {"points": points, "growth": points}
    assert Purchase.objects.count() == 186 and Refund.objects.count() == 9
    assert balances() == {"points": points, "growth": points}
    assert ledger_problems() == {}
    # A member named by card on one receipt and by card and phone on another is one member.
    card = Identity.objects.get(kind=Identity.Kind.CARD, value="VIP00000035").member
    assert Identity.objects.filter(member=card, kind=Identity.Kind.PHONE, value="+8613500000035").exists()


def run_file_confirmed(run: ImportRun) -> ImportRun:
    from members.imports.runner import import_confirm, import_run_execute

    import_confirm(run=run, start=False)
    return import_run_execute(run.pk, chunk_size=37)  # an odd size: chunks cut sales from returns


def test_the_same_file_twice_changes_nothing(sample_stores):
    first = run_file("pos_receipts_gbk")
    entries = Entry.objects.count()
    again = preview("pos_receipts_gbk")
    assert (again.rows_ok, again.rows_duplicate, again.rows_rejected) == (0, 195, 5)
    again = run_file_confirmed(again)
    assert (again.purchases_created, again.refunds_created, again.members_created) == (0, 0, 0)
    assert Purchase.objects.count() == first.purchases_created
    assert Entry.objects.count() == entries


def test_overlapping_files_count_each_receipt_once(sample_stores):
    data = sample_bytes("pos_receipts_gbk").decode("gbk").splitlines(keepends=True)
    first_half = "".join(data[:100]).encode("gbk")
    run_file("pos_receipts_gbk", first_half, name="first-half.csv")
    second = run_file("pos_receipts_gbk", name="all.csv")
    points, sales, returns = pos_expected()
    assert Purchase.objects.count() == sales and Refund.objects.count() == returns
    assert balances() == {"points": points, "growth": points}
    assert second.rows_duplicate > 0


def test_ecommerce_sample(db):
    run = preview("ecommerce_orders")
    assert (run.rows_total, run.rows_ok, run.rows_duplicate, run.rows_rejected, run.rows_skipped) == (
        7, 4, 1, 1, 1,
    )  # fmt: skip
    states = dict(run.rows.values_list("number", "state"))
    assert states == {
        2: "pending",
        3: "skipped",
        4: "pending",
        5: "pending",
        6: "pending",
        7: "duplicate",
        8: "rejected",
    }
    assert errors_texts(run.rows.get(number=7).errors) == {"": ["Same number as row 2."]}
    assert set(run.rows.get(number=8).errors) == {"gross", "paid"}
    run = run_file_confirmed(run)
    # 299 + 1,180 + (459 - 459 fully refunded) + (600 - 200 partly refunded)
    assert run.points_awarded == {"points": 1879, "growth": 1879}
    assert (run.purchases_created, run.refunds_created, run.members_created) == (4, 2, 2)
    partly = Purchase.objects.get(order_number="E202611030005")
    assert (partly.status, partly.refunded_amount) == (Purchase.Status.PARTLY_REFUNDED, Decimal("200.00"))
    assert Purchase.objects.get(order_number="E202611020003").gross_amount == Decimal("1280.00")
    assert balances() == {"points": 1879, "growth": 1879}


def test_an_order_refunded_after_it_was_imported(db):
    data = sample_bytes("ecommerce_orders").decode("utf-8-sig")
    run_file("ecommerce_orders", data.encode(), name="day1.csv")
    later = data.replace("交易成功,299.00,0.00,299.00,0.00", "部分退款,299.00,0.00,299.00,99.00", 1)
    run = run_file("ecommerce_orders", later.encode(), name="day2.csv")
    assert (run.purchases_created, run.refunds_created) == (0, 1)
    assert run.points_awarded == {"points": -99, "growth": -99}
    assert Purchase.objects.get(order_number="E202611010001").refunded_amount == Decimal("99.00")
    again = run_file("ecommerce_orders", later.encode(), name="day2-again.csv")
    assert (again.refunds_created, again.points_awarded) == (0, {})


def test_members_sample(sample_stores):
    run = preview("members")
    states = dict(run.rows.values_list("number", "state"))
    assert states == {
        2: "pending",
        3: "pending",
        4: "pending",
        5: "rejected",
        6: "rejected",
        7: "skipped",
        8: "pending",
    }
    assert set(run.rows.get(number=5).errors) == {"mobile", "birthday"}
    assert (
        "row 2" in errors_texts(run.rows.get(number=6).errors)["mobile"][0]
    )  # two people, one phone: a decision
    run = run_file_confirmed(run)
    assert run.members_created == 4 == Member.objects.count()
    wang = Member.objects.get(name="王芳")
    assert wang.mobile.as_e164 == "+8613912345678"
    assert Identity.objects.filter(
        member=wang, kind=Identity.Kind.WECHAT_UNIONID, value="oUnion_wangfang_02"
    ).exists()
    assert preview("members").rows_duplicate == 4
