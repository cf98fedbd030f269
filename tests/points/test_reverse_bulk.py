"""``points_reverse_bulk``: many reversals in one transaction, exactly as one ``points_reverse``
per request would write them, in order: entries, lot remainders, allocations, balances, flags
and errors. Each scenario runs both ways on the same ledger (the single calls inside a
rolled-back transaction) and compares every table by natural keys."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from config.common.bulk import SMALL
from config.common.errors import IdempotencyConflict
from members.models import Member
from points.errors import NothingToReverse
from points.models import Account, Entry
from points.selectors import ledger_problems
from points.services import (
    ReverseRequest,
    lots_activate_due,
    points_earn,
    points_reverse,
    points_reverse_bulk,
    points_spend,
)
from tests.factories import MemberFactory
from tests.points.conftest import T0, days, ledger_snapshot

AT = T0 + days(9)
pytestmark = pytest.mark.django_db


class Rollback(Exception):
    pass


def single(request: ReverseRequest) -> Entry:
    return points_reverse(
        member=Member.objects.get(pk=request.member_id), point_type=request.point_type,
        source=request.source, source_ref=request.source_ref, amount=request.amount,
        idempotency_key=request.key, reason=request.reason, at=AT,
    )  # fmt: skip


def one_by_one(requests) -> tuple[dict, list[str]]:
    try:
        with transaction.atomic():
            keys = [single(request).idempotency_key for request in requests]
            written = ledger_snapshot()
            raise Rollback
    except Rollback:
        pass
    return written, keys


def both_ways(requests) -> tuple[dict, dict]:
    before = ledger_snapshot()
    written, keys = one_by_one(requests)
    assert ledger_snapshot() == before
    entries = points_reverse_bulk(requests, at=AT)
    assert [entry.idempotency_key for entry in entries] == keys
    assert ledger_problems() == {}
    return written, ledger_snapshot()


def earn(member, amount, ref, *, code="points", at=T0):
    return points_earn(
        member=member, point_type=code, amount=amount, source="purchase", source_ref=ref,
        idempotency_key=f"earn-{member.pk}-{ref}-{code}", at=at,
    )  # fmt: skip


@pytest.fixture
def ledger(points_type, growth_type):
    """Alice spent most of R1 and some of R2; Bob's and Carol's points are still pending."""
    alice, bob, carol = MemberFactory(), MemberFactory(), MemberFactory()
    earn(alice, 100, "R1")
    earn(alice, 20, "R2")
    earn(alice, 100, "R1", code="growth")
    lots_activate_due(now=T0 + days(7))
    points_spend(member=alice, point_type="points", amount=110, idempotency_key="spend-1", at=T0 + days(8))
    earn(alice, 30, "R3", at=T0 + days(8))
    earn(bob, 100, "P1")
    earn(bob, 100, "P1", code="growth")
    earn(carol, 50, "C1", at=T0 + days(8))
    return {"alice": alice, "bob": bob, "carol": carol, "points": points_type, "growth": growth_type}


def request(ledger, who, ref, amount=None, *, code="points", key=None) -> ReverseRequest:
    return ReverseRequest(
        member_id=ledger[who].pk, point_type=ledger[code], source="purchase", source_ref=ref,
        key=key or f"rev-{who}-{ref}-{code}-{amount}", amount=amount, reason=f"退货 {ref}",
    )  # fmt: skip


def test_bulk_is_one_call_per_request_in_order(ledger):
    points_reverse(
        member=ledger["carol"], point_type="points", source="purchase", source_ref="C1", amount=5,
        idempotency_key="done-before", at=T0 + days(8),
    )  # fmt: skip
    requests = [
        request(ledger, "alice", "R1", 30),  # R1 was spent: from R2's last 10, then R3's pending
        request(ledger, "bob", "P1", 40),  # pending points: cancelled
        request(ledger, "alice", "R1", code="growth"),  # all of it
        request(ledger, "alice", "R1"),  # the 70 left: R3's last 10, then a debt, flagged
        request(ledger, "bob", "P1", 60),  # sees the first 40: exactly what is left
        request(ledger, "carol", "C1", 5, key="done-before"),  # a retry: the entry posted before
        request(ledger, "alice", "R2", 20),  # its own lot is empty (spent, then taken): all owed
        request(ledger, "carol", "C1", 10),
        request(ledger, "carol", "C1", 10),  # the same key again in the batch: the same entry
    ]
    written, batched = both_ways(requests)
    assert written == batched
    alice = Account.objects.get(member=ledger["alice"], point_type=ledger["points"])
    assert (alice.available, alice.pending, alice.debt) == (-80, 0, 80) and alice.flagged_at == AT
    assert Account.objects.get(member=ledger["bob"], point_type=ledger["points"]).balance == 0


@pytest.mark.parametrize(
    ("last", "error", "message"),
    [
        (("bob", "P1", 61), ValidationError, "Only 60 points"),
        (("bob", "P1", None), NothingToReverse, "Nothing left"),
    ],
    ids=["too-much", "nothing-left"],
)
def test_errors_are_those_of_the_single_path_and_nothing_is_written(ledger, last, error, message):
    who, ref, amount = last
    requests = [request(ledger, "bob", "P1", 40), request(ledger, who, ref, amount, key="last")]
    if error is NothingToReverse:
        requests.insert(1, request(ledger, "bob", "P1"))
    with pytest.raises(error, match=message) as one, transaction.atomic():
        for each in requests:
            single(each)
    before = ledger_snapshot()
    with pytest.raises(error) as bulk:
        points_reverse_bulk(requests, at=AT)
    assert str(bulk.value) == str(one.value) and ledger_snapshot() == before


def test_a_key_used_for_another_request_conflicts(ledger):
    points_reverse_bulk([request(ledger, "bob", "P1", 10, key="k")], at=AT)
    before = ledger_snapshot()
    with pytest.raises(IdempotencyConflict):
        points_reverse_bulk(
            [request(ledger, "carol", "C1", 1), request(ledger, "bob", "P1", 11, key="k")], at=AT
        )
    assert ledger_snapshot() == before


def test_the_queries_do_not_grow_with_the_requests(points_type):
    def queries(n: int) -> int:
        members = [MemberFactory() for _ in range(n)]
        for member in members:
            earn(member, 100, "P")
        requests = [
            ReverseRequest(
                member_id=m.pk, point_type=points_type, source="purchase", source_ref="P", key=f"r{m.pk}"
            )
            for m in members
        ]
        with CaptureQueriesContext(connection) as captured:
            points_reverse_bulk(requests, at=AT)
        return len(captured)

    # bulk_insert and bulk_set take a few more (fixed) statements from SMALL rows on (COPY)
    one, small, twenty = queries(1), queries(SMALL), queries(20)
    assert one <= small == twenty <= 20
