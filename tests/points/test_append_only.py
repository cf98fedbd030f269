"""The ledger's history cannot be rewritten, not even with raw SQL from a console or a script.

On PostgreSQL the trigger from points/migrations/0002 refuses UPDATE and DELETE on entries.
SQLite has no such trigger; the ORM refusal is covered in test_ledger.py.
"""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from points.models import Entry
from points.services import points_earn
from tests.points.conftest import T0, key

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the append-only trigger is PostgreSQL's"),
    pytest.mark.usefixtures("reconciled"),
]


def snapshot() -> list[tuple]:
    return list(
        Entry.objects.order_by("id").values_list("id", "account_id", "kind", "amount", "balance_after")
    )


@pytest.fixture
def entries(alice, bob) -> list[tuple]:
    for member, amount in ((alice, 100), (bob, 40), (alice, 7)):
        points_earn(
            member=member, point_type="points", amount=amount, source="purchase", source_ref=key("P"),
            idempotency_key=key("earn"), at=T0,
        )  # fmt: skip
    return snapshot()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE points_entry SET amount = amount * 10",
        "UPDATE points_entry SET amount = 1 WHERE id = (SELECT MIN(id) FROM points_entry)",
        "UPDATE points_entry SET reason = 'tidied up'",
        "DELETE FROM points_entry",
        "DELETE FROM points_entry WHERE id = (SELECT MAX(id) FROM points_entry)",
    ],
)
def test_raw_sql_cannot_change_or_remove_entries(entries, sql: str):
    """Whoever edits the table by hand is refused by the database, and nothing changes."""
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute(sql)
    assert snapshot() == entries
