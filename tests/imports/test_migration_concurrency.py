"""The same old-CRM balances file imported twice at once (two operators, or a double click and a
retry), on PostgreSQL: every lot is posted once, and both reports account for every point.

The lots are keyed in the ledger (``migration:<type>:<member>:<record>``) and the accounts locked
in primary-key order (``points.services.opening``): the run that comes second finds the first's
entries once it holds the accounts, and its rows are "brought in before".
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from members.imports.legacy import reconciliation
from members.imports.models import ImportProfile
from members.imports.runner import import_confirm, import_run_execute
from members.imports.services import import_preview
from points.models import Account, Entry
from points.selectors import ledger_problems
from tests.concurrency import race
from tests.fixtures.old_crm import old_crm_export
from tests.imports.test_migration import run

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and races need PostgreSQL"),
]


def test_one_file_imported_twice_at_once_posts_each_lot_once():
    export = old_crm_export(30, seed=5, today=timezone.localdate())
    run("members", export.members)
    profile = ImportProfile.objects.get(code="migration_balances")
    runs = [import_preview(profile=profile, data=export.balances, file_name=f"{i}.csv") for i in (1, 2)]
    for each in runs:
        import_confirm(run=each, start=False)

    # both have checked that no lot is posted yet (before any lock) when they go on together
    seen = r'FROM "points_entry" WHERE "points_entry"."idempotency_key" (IN|= ANY)'
    outcomes = race(2, lambda i: import_run_execute(runs[i].pk), meet=seen)
    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes

    expected = export.expected.points_good
    held = Account.objects.filter(point_type__code="points").aggregate(n=Sum("available"))["n"]
    assert held == expected
    assert Entry.objects.filter(kind=Entry.Kind.OPENING).count() == export.expected.lots_good
    lines = [reconciliation(each).lines[0] for each in runs]
    assert all(line.balanced for line in lines)
    assert sum(line.posted for line in lines) == expected  # one run posted each lot, the other saw it
    assert ledger_problems() == {}
