"""Each sample export (tests/fixtures/samples) through its shipped profile, with exact results;
then idempotency.

Expected points are worked out here from the file's own numbers (1 point and 1 growth per CNY
paid, rounded down, the default rules; a refund takes back its share rounded half up), not read
back from the code under test.
"""

from __future__ import annotations

from collections.abc import Iterable
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
# The sample's quirks (tests/fixtures/exports.py, QUIRKS), by row: a mistyped phone and no card,
# an impossible date (02-30), a store that does not exist; and a receipt exported twice.
POS_REJECTED = {
    14: "mobile", 64: "mobile", 114: "mobile", 164: "mobile",
    33: "occurred_at", 83: "occurred_at", 133: "occurred_at", 183: "occurred_at",
    40: "store_code", 90: "store_code", 140: "store_code", 190: "store_code",
}  # fmt: skip
POS_TWICE = {46: 45, 96: 95, 146: 145, 196: 195}  # row: the row it repeats


def pos_expected() -> tuple[int, int, int]:
    return expected_points(sample_bytes("pos_receipts_gbk"), set(POS_REJECTED))


def people_in(code: str, rejected: Iterable[int] = ()) -> int:
    """New members the file should enrol: the card/phone pairs of its rows that go in, joined
    into people (a card is the same card in any case)."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    for row in parse_rows(SHIPPED[code], sample_bytes(code), now=NOW, tz=TZ):
        if row.ok and row.kind != "return" and row.number not in rejected:
            names = [name for name in ("card", "mobile") if row.values.get(name)]
            keys = [f"{name}:{row.values[name].upper()}" for name in names]
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
        201, 184, 4, 12, 1,
    )  # fmt: skip
    rejected = dict(run.rows.filter(state=ImportRow.State.REJECTED).values_list("number", "errors"))
    assert {number: list(errors) for number, errors in rejected.items()} == {
        number: [field] for number, field in POS_REJECTED.items()
    }
    assert errors_texts(rejected[14])["mobile"][0] == (
        "“1860019437” is not a valid phone number (wrong length or unknown prefix)."
    )
    assert errors_texts(rejected[33]) == {"occurred_at": ["“2026-02-30 07:20:34” is not a real date."]}
    assert errors_texts(rejected[40])["store_code"][0].startswith("Unknown store code S0999")
    twice = dict(run.rows.filter(state=ImportRow.State.DUPLICATE).values_list("number", "errors"))
    assert {number: errors_texts(errors) for number, errors in twice.items()} == {
        number: {"": [f"Same number as row {first}."]} for number, first in POS_TWICE.items()
    }
    assert errors_texts(run.rows.get(number=202).errors) == {"": ["totals row"]}

    run = run_file_confirmed(run)
    points, sales, returns = pos_expected()
    assert (sales, returns) == (176, 8)  # 200 receipts: 188 sales, 8 returns, less 12 rejected, 4 twice
    assert run.status == ImportRun.Status.DONE
    assert (run.purchases_created, run.refunds_created, run.rows_rejected) == (176, 8, 12)
    assert run.members_created == people_in("pos_receipts_gbk", POS_REJECTED) == Member.objects.count()
    assert run.points_awarded == {"points": points, "growth": points}
    assert Purchase.objects.count() == 176 and Refund.objects.count() == 8
    assert balances() == {"points": points, "growth": points}
    assert ledger_problems() == {}
    # A member named by card on one receipt (row 74) and by the same card in lower case and a
    # phone on another (row 75) is one member; a phone written 139-0045-5704 is the same phone.
    card = Identity.objects.get(kind=Identity.Kind.CARD, value="VIP00000048").member
    assert Identity.objects.filter(member=card, kind=Identity.Kind.PHONE, value="+8615100384433").exists()
    dashed = Identity.objects.get(kind=Identity.Kind.CARD, value="VIP00000057").member
    assert set(dashed.identities.filter(kind=Identity.Kind.PHONE).values_list("value", flat=True)) == {
        "+8613900455704"
    }


def run_file_confirmed(run: ImportRun) -> ImportRun:
    from members.imports.runner import import_confirm, import_run_execute

    import_confirm(run=run, start=False)
    return import_run_execute(run.pk, chunk_size=37)  # an odd size: chunks cut sales from returns


def test_the_same_file_twice_changes_nothing(sample_stores):
    first = run_file("pos_receipts_gbk")
    entries = Entry.objects.count()
    again = preview("pos_receipts_gbk")
    assert (again.rows_ok, again.rows_duplicate, again.rows_rejected) == (0, 188, 12)
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
        10, 6, 1, 1, 2,
    )  # fmt: skip
    states = dict(run.rows.values_list("number", "state"))
    assert states == {
        2: "pending",
        3: "skipped",
        4: "pending",
        5: "pending",
        6: "duplicate",
        7: "pending",
        8: "pending",
        9: "pending",
        10: "skipped",
        11: "rejected",
    }
    assert errors_texts(run.rows.get(number=6).errors) == {"": ["Same number as row 2."]}
    assert set(run.rows.get(number=11).errors) == {"gross", "paid"}
    run = run_file_confirmed(run)
    # Paid less shipping, rounded down: 1,039 + (35.61 - 8.00: 27) + (336 - 336 fully refunded)
    # + 1,562 + (43.48 - 8.00: 35), and 1,659 less the refund's share 1,659 × 553.00 / 1,659.90
    # = 552.70, rounded 553.
    assert run.points_awarded == {"points": 3769, "growth": 3769}
    # Buyers: 137 0003 5997 (rows 2, 5), 136 0002 8078 (4, 7), 138 0000 4321 (8), 139 0001 2240 (9).
    assert (run.purchases_created, run.refunds_created, run.members_created) == (6, 2, 4)
    partly = Purchase.objects.get(order_number="E202611020005")
    assert (partly.status, partly.refunded_amount) == (Purchase.Status.PARTLY_REFUNDED, Decimal("553.00"))
    shipped = Purchase.objects.get(order_number="E202611010003")  # 27.61 of goods and 8.00 shipping
    assert (shipped.gross_amount, shipped.paid_amount) == (Decimal("35.61"), Decimal("35.61"))
    assert Purchase.objects.get(order_number="E202611010001").gross_amount == Decimal("1319.67")
    assert balances() == {"points": 3769, "growth": 3769}


def test_an_order_refunded_after_it_was_imported(db):
    data = sample_bytes("ecommerce_orders").decode("utf-8-sig")
    run_file("ecommerce_orders", data.encode(), name="day1.csv")
    paid = '交易成功,"1,319.67",0.00,"1,039.67",0.00'
    later = data.replace(paid, paid.replace("交易成功", "部分退款")[:-4] + "100.00", 1)
    run = run_file("ecommerce_orders", later.encode(), name="day2.csv")
    assert (run.purchases_created, run.refunds_created) == (0, 1)
    # 1,039 points × 100.00 / 1,039.67 = 99.94, rounded: 100
    assert run.points_awarded == {"points": -100, "growth": -100}
    assert Purchase.objects.get(order_number="E202611010001").refunded_amount == Decimal("100.00")
    again = run_file("ecommerce_orders", later.encode(), name="day2-again.csv")
    assert (again.refunds_created, again.points_awarded) == (0, {})


def test_members_sample(sample_stores):
    run = preview("members")
    states = dict(run.rows.values_list("number", "state"))
    assert states == {**dict.fromkeys(range(2, 10), "pending"), 10: "rejected", 11: "skipped", 12: "rejected"}
    assert set(run.rows.get(number=10).errors) == {"mobile", "birthday"}
    assert (
        "row 2" in errors_texts(run.rows.get(number=12).errors)["mobile"][0]
    )  # two people, one phone: a decision
    run = run_file_confirmed(run)
    assert run.members_created == 8 == Member.objects.count()
    yang = Member.objects.get(name="杨磊")  # "+86 139 0001 2240"
    assert yang.mobile.as_e164 == "+8613900012240"
    assert Identity.objects.filter(
        member=yang, kind=Identity.Kind.WECHAT_UNIONID, value="oUnion_0001836f3a"
    ).exists()
    assert preview("members").rows_duplicate == 8
