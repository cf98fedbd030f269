"""``bulk_insert`` and ``bulk_set`` write exactly what ``bulk_create`` and ``bulk_update`` write:
the import's hot tables go through them, so a difference would be a wrong purchase or balance.
On PostgreSQL they take the COPY path (this is what CI runs); elsewhere the Django fallback."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from config.common.bulk import SMALL, bulk_insert, bulk_insert_new, bulk_set
from members.imports.models import ImportProfile, ImportRow, ImportRun
from members.models import Channel, Store
from members.purchases.models import Purchase
from points.models import Account, PointType
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
AT = timezone.make_aware(datetime.datetime(2026, 11, 1, 10, 2, 11))


def purchases(member, store, prefix: str, n: int = SMALL + 2) -> list[Purchase]:
    return [
        Purchase(
            source="pos", order_number=f"{prefix}{i}", channel=Channel.STORE, store=store, member=member,
            occurred_at=AT + datetime.timedelta(minutes=i), gross_amount=Decimal("1288.50"),
            paid_amount=Decimal(f"{1000 + i}.25"),
        )
        for i in range(n)
    ]  # fmt: skip


def stored(prefix: str) -> list[tuple]:
    fields = ["order_number", "channel", "store_id", "member_id", "occurred_at", "gross_amount",
              "paid_amount", "shipping_amount", "status"]  # fmt: skip
    rows = (
        Purchase.objects.filter(order_number__startswith=prefix).order_by("occurred_at").values_list(*fields)
    )
    return [row[1:] for row in rows]


def test_bulk_insert_writes_what_bulk_create_writes_and_sets_the_ids():
    member, store = MemberFactory(), Store.objects.create(code="S1", name="一号店")
    made = bulk_insert(purchases(member, store, "A-"))
    Purchase.objects.bulk_create(purchases(member, store, "B-"))

    assert stored("A-") == stored("B-") and len(stored("A-")) == SMALL + 2
    assert [p.pk for p in made] == list(
        Purchase.objects.filter(order_number__startswith="A-")
        .order_by("occurred_at")
        .values_list("pk", flat=True)
    )
    assert all(not p._state.adding for p in made)
    again = Purchase.objects.get(pk=made[0].pk)
    assert again.created_at is not None and abs(again.created_at - timezone.now()) < datetime.timedelta(
        minutes=1
    )


def test_bulk_insert_takes_the_id_of_a_parent_saved_after_it_was_assigned():
    run = ImportRun.objects.create(
        profile=ImportProfile.objects.get(code="pos_receipts_gbk"), file_name="f.csv"
    )
    rows = [
        ImportRow(run=run, number=i, kind="sale", state=ImportRow.State.PENDING,
                  values={"paid": Decimal("9.90"), "note": "含“引号”, 逗号\t与制表符\n"}, errors={"": ["x"]})
        for i in range(SMALL + 1)
    ]  # fmt: skip
    bulk_insert(rows)
    first = ImportRow.objects.get(run=run, number=0)
    assert first.values == {"paid": "9.90", "note": "含“引号”, 逗号\t与制表符\n"}
    assert first.errors == {"": ["x"]} and first.pk == rows[0].pk


def test_bulk_insert_checks_constraints_and_leaves_nothing_behind():
    member, store = MemberFactory(), Store.objects.create(code="S1", name="一号店")
    bulk_insert(purchases(member, store, "C-"))
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk_insert(purchases(member, store, "C-"))  # the same receipts again
    assert len(stored("C-")) == SMALL + 2


def test_bulk_insert_new_skips_rows_already_held_and_counts_the_rest():
    member, store = MemberFactory(), Store.objects.create(code="S1", name="一号店")
    bulk_insert(purchases(member, store, "A-", n=3))  # A-0 … A-2 are there
    batch = purchases(member, store, "A-", n=SMALL + 2)  # A-0 … A-9: seven new
    assert bulk_insert_new(batch) == SMALL + 2 - 3
    assert bulk_insert_new(batch) == 0  # all held now: nothing twice
    assert stored("A-") == stored_like(purchases(member, store, "A-", n=SMALL + 2))
    assert Purchase.objects.filter(order_number__startswith="A-").count() == SMALL + 2


def stored_like(made: list[Purchase]) -> list[tuple]:
    Purchase.objects.bulk_create([_renamed(p, "Z-") for p in made])
    return stored("Z-")


def _renamed(purchase: Purchase, prefix: str) -> Purchase:
    purchase.order_number = prefix + purchase.order_number.split("-", 1)[1]
    return purchase


def test_bulk_set_writes_the_named_fields_of_each_row_only():
    members = [MemberFactory() for _ in range(SMALL + 1)]
    points = PointType.objects.get(code="points")
    accounts = [Account.objects.create(member=m, point_type=points) for m in members]
    for i, account in enumerate(accounts):
        account.available, account.debt = 100 + i, 7  # debt is not written
        account.flagged_at = AT if i % 2 else None
    with transaction.atomic():
        bulk_set(accounts, ["available", "flagged_at"])
        bulk_set(accounts[:SMALL], ["pending"])  # twice in one transaction: its own scratch table
    got = dict(Account.objects.filter(pk__in=[a.pk for a in accounts]).values_list("pk", "available"))
    assert got == {a.pk: a.available for a in accounts}
    assert set(Account.objects.filter(pk__in=[a.pk for a in accounts]).values_list("debt", flat=True)) == {0}
    assert Account.objects.get(pk=accounts[1].pk).flagged_at == AT
    assert Account.objects.get(pk=accounts[0].pk).flagged_at is None


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the COPY path is PostgreSQL's")
def test_bulk_set_never_touches_a_real_table_of_its_scratch_name():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bulk_set_points_account (id bigint)")
        cursor.execute("INSERT INTO bulk_set_points_account VALUES (1)")
    members = [MemberFactory() for _ in range(SMALL)]
    points = PointType.objects.get(code="points")
    accounts = [Account.objects.create(member=m, point_type=points, available=5) for m in members]
    bulk_set(accounts, ["available"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM public.bulk_set_points_account")
        assert cursor.fetchone() == (1,)


def test_a_naive_time_is_read_in_the_project_zone_as_bulk_create_reads_it():
    member, store = MemberFactory(), Store.objects.create(code="S1", name="一号店")
    naive = {}
    for prefix, insert in (("N-", bulk_insert), ("M-", Purchase.objects.bulk_create)):
        rows = purchases(member, store, prefix)
        for row in rows:
            row.occurred_at = timezone.make_naive(row.occurred_at)
        with pytest.warns(RuntimeWarning, match="naive datetime"):
            insert(rows)
        naive[prefix] = [row[3] for row in stored(prefix)]  # occurred_at
    assert naive["N-"] == naive["M-"] == [row[3] for row in stored_aware(member, store)]


def stored_aware(member, store) -> list[tuple]:
    bulk_insert(purchases(member, store, "W-"))
    return stored("W-")
