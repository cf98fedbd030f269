"""Two workers on one import, and an operator confirming while another cancels, on PostgreSQL:
every row is imported once and counted once; an import is either confirmed or cancelled.

Each lock test has its control beside it (``[control...]``): the same race with the lock off,
showing the harm. Transactional: the migrations' rows are put back before each test.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection

from members.imports import runner
from members.imports.models import ImportRow, ImportRun
from members.imports.runner import import_confirm, import_run_execute
from members.imports.services import import_cancel
from members.purchases.models import Purchase
from tests.concurrency import LOCKED_AND_CONTROL, Last, race, unless
from tests.factories import MemberFactory, StoreFactory
from tests.imports.conftest import preview

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and races need PostgreSQL"),
]

HEADER = "门店编码,门店名称,小票号,会员卡号,手机号,交易类型,应收金额,实收金额,交易时间,原小票号,收银员"
PHONES = [f"1390000100{i}" for i in range(4)]
CHUNK_LOCK = "members/imports/runner.py::_chunk#1"
ROW_BY_ROW_LOCK = "members/imports/runner.py::_chunk#2"


def four_sales() -> ImportRun:
    """A previewed POS file of four sales (100, 200, 300, 400 CNY) by four known members."""
    StoreFactory(code="S0000", name="上海徐汇店")
    for phone in PHONES:
        MemberFactory(mobile=phone)
    lines = [HEADER] + [
        f"S0000,上海徐汇店,S0000-{i:04d},,{phone},销售,{100 * (i + 1)}.00,{100 * (i + 1)}.00,"
        f"2026-11-01 10:0{i}:00,,C01"
        for i, phone in enumerate(PHONES)
    ]
    run = preview("pos_receipts_gbk", ("\r\n".join(lines) + "\r\n").encode("gbk"))
    assert run.rows_ok == 4, run.rows.values_list("errors", flat=True)
    return run


def after_pending_rows(nth: int = 1) -> Any:
    """The statement after a worker has read the run's pending rows the ``nth`` time."""
    seen = 0

    def point(sql: str, _params: Any) -> bool:
        nonlocal seen
        if seen == nth:
            return True
        seen += 'FROM "imports_importrow"' in sql and sql.lstrip().startswith("SELECT")
        return False

    return point


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_workers_on_one_import_import_and_count_each_row_once(locked: bool):
    """A queued import picked up by two workers at once: each row is imported and counted once.
    Without the run's lock both take the same rows; the one that goes on after the other committed
    finds the receipts recorded and marks the rows as duplicates of themselves."""
    run = four_sales()
    import_confirm(run=run, start=False)

    with unless(locked, CHUNK_LOCK):
        results = race(
            2,
            lambda i: import_run_execute(run.pk),
            meet=[r'^INSERT INTO "purchases_purchase"', Last(after_pending_rows())],
        )

    assert all(isinstance(r, ImportRun) for r in results), results
    assert Purchase.objects.count() == 4
    assert_each_row_imported_once(run, locked)


def assert_each_row_imported_once(run: ImportRun, locked: bool) -> None:
    """Four rows done, four purchases counted, no duplicates; without the lock the worker that
    came second marked the rows the other imported as duplicates of themselves."""
    run.refresh_from_db()
    done = run.rows.filter(state=ImportRow.State.DONE).count()
    counted = (done, run.rows_duplicate)
    assert counted == ((4, 0) if locked else (0, 4)), counted
    if locked:
        assert (run.rows_done, run.purchases_created) == (4, 4)


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_workers_doing_a_failed_chunk_row_by_row_do_each_row_once(locked: bool, monkeypatch):
    """A chunk that fails as a whole is done again row by row; two workers doing that at once
    take turns too. Without the lock both redo the same rows, and the second marks them as
    duplicates of themselves."""
    run = four_sales()
    import_confirm(run=run, start=False)
    apply = runner.apply_rows

    def chunks_fail(run: ImportRun, job: Any, rows: list[ImportRow]) -> Any:
        if len(rows) > 1:
            raise IntegrityError("a concurrent import of the same receipts (simulated)")
        return apply(run, job, rows)

    monkeypatch.setattr(runner, "apply_rows", chunks_fail)

    with unless(locked, ROW_BY_ROW_LOCK):
        results = race(
            2,
            lambda i: import_run_execute(run.pk),
            meet=[r'^INSERT INTO "purchases_purchase"', Last(after_pending_rows(2))],
        )

    assert all(isinstance(r, ImportRun) for r in results), results
    assert Purchase.objects.count() == 4
    assert_each_row_imported_once(run, locked)


@pytest.mark.parametrize(
    "off",
    [None, "members/imports/runner.py::import_confirm", "members/imports/services.py::import_cancel"],
    ids=["locked", "control-confirm", "control-cancel"],
)
def test_an_import_confirmed_and_cancelled_at_once_is_one_or_the_other(off: str | None):
    """One operator confirms a previewed import while another cancels it: one of them is told
    it is too late. Without either lock both succeed, and a cancelled import runs (or a running
    one shows as cancelled)."""
    run = four_sales()
    actions = [lambda: import_confirm(run=run, start=False), lambda: import_cancel(run=run)]

    with unless(off is None, *([off] if off else [])):
        results = race(2, lambda i: actions[i](), meet=r'^UPDATE "imports_importrun"')

    refused = [r for r in results if isinstance(r, ValidationError)]
    assert all(isinstance(r, (ImportRun, ValidationError)) for r in results), results
    assert len(refused) == (1 if off is None else 0)
