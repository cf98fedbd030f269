"""The import process killed in the middle of a file (SIGKILL: no clean-up runs), then run
again: it resumes where the last committed chunk ended and the totals come out exact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Sum

from members.imports.models import ImportRow, ImportRun
from members.models import Member
from members.purchases.models import Purchase, Refund
from points.models import Account
from points.selectors import ledger_problems
from tests.factories import StoreFactory
from tests.fixtures.exports import pos_export
from tests.imports.conftest import expected_points

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("migration_rows"),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="a second process needs a real server"),
]


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def test_killed_import_resumes_with_exact_totals(tmp_path):
    export = tmp_path / "pos.csv"
    export.write_bytes(pos_export(rows=2000, members=300, stores=2, seed=5))
    for code in ("S0000", "S0001"):
        StoreFactory(code=code)
    command = [
        sys.executable, "manage.py", "import_file", str(export), "--profile", "pos_receipts_gbk",
        "--chunk-size", "50",
    ]  # fmt: skip
    env = {**os.environ, "DATABASE_URL": database_url(), "DEBUG": "1"}
    worker = subprocess.Popen(command, env=env, cwd=settings.BASE_DIR, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not ImportRun.objects.filter(rows_done__gte=300).exists():
        assert worker.poll() is None, "the import finished before it could be killed: use a larger file"
        assert time.monotonic() < deadline, "the import made no progress"
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait()

    run = ImportRun.objects.get()
    assert run.status == ImportRun.Status.RUNNING  # nobody marked it: the process just died
    assert 0 < run.rows_done < run.rows_ok
    # What the committed chunks say they did is exactly what is in the database.
    done = run.rows.filter(state=ImportRow.State.DONE)
    assert Purchase.objects.count() == run.purchases_created == done.exclude(kind="return").count()
    assert Refund.objects.count() == run.refunds_created

    again = subprocess.run(command, env=env, cwd=settings.BASE_DIR, capture_output=True, text=True)
    assert f"Resuming import #{run.pk}" in again.stdout, again.stdout + again.stderr
    run.refresh_from_db()
    assert run.status == ImportRun.Status.DONE and run.rows_done == run.rows_ok
    assert again.returncode == (1 if run.rows_rejected else 0)

    rejected = set(run.rows.filter(state=ImportRow.State.REJECTED).values_list("number", flat=True))
    points, sales, returns = expected_points(export.read_bytes(), rejected)
    assert Purchase.objects.count() == run.purchases_created == sales
    assert Refund.objects.count() == run.refunds_created == returns
    assert Member.objects.count() == run.members_created
    balances = Account.objects.values_list("point_type__code").annotate(
        total=Sum("pending") + Sum("available")
    )
    assert {code: int(total) for code, total in balances} == {"points": points, "growth": points}
    assert run.points_awarded == {"points": points, "growth": points}
    assert ledger_problems() == {}
