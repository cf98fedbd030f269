"""``points_earn_bulk``: many members' earnings in one transaction, exactly as one
``points_earn_many`` per request would write them, in order."""

from __future__ import annotations

import pytest

from config.common.errors import IdempotencyConflict
from points.models import Account, Entry
from points.selectors import ledger_problems
from points.services import points_earn_many
from points.services.ledger import EarnRequest, points_earn_bulk
from tests.factories import MemberFactory
from tests.points.conftest import T0, days


def state(members) -> list:
    """Accounts, entries and lots of each member; fingerprints left out (they name the member)."""
    return [
        sorted(
            (
                a.point_type.code,
                a.available,
                a.pending,
                a.debt,
                a.earned,
                list(a.entries.order_by("pk").values_list("amount", "balance_after", "created_at")),
                list(
                    a.lots.order_by("pk").values_list(
                        "amount", "remaining", "status", "available_at", "expires_at"
                    )
                ),
            )
            for a in Account.objects.filter(member=member)
        )
        for member in members
    ]


def requests(members, points_type, growth_type, tag: str) -> list[EarnRequest]:
    a, b, c = members
    return [
        EarnRequest(
            a.pk, {points_type: 120, growth_type: 80}, "purchase", f"{tag}-1", "P1", "R1", T0 - days(2)
        ),
        EarnRequest(b.pk, {points_type: 7}, "event", f"{tag}-2", available_at=T0),
        EarnRequest(
            a.pk, {points_type: 30, growth_type: 30}, "purchase", f"{tag}-3", "P3", "R3", T0 - days(9)
        ),
        EarnRequest(c.pk, {growth_type: 5, points_type: 0}, "purchase", f"{tag}-4", "P4", pending_from=T0),
    ]


def test_bulk_is_one_call_per_request_in_order(db, points_type, growth_type):
    bulk_members = [MemberFactory() for _ in range(3)]
    one_by_one = [MemberFactory() for _ in range(3)]
    written = points_earn_bulk(requests(bulk_members, points_type, growth_type, "bulk"), at=T0)
    for request in requests(one_by_one, points_type, growth_type, "one"):
        points_earn_many(
            member=next(m for m in one_by_one if m.pk == request.member_id), amounts=request.amounts,
            source=request.source, source_ref=request.source_ref, key=request.key, reason=request.reason,
            at=T0, pending_from=request.pending_from, available_at=request.available_at,
        )  # fmt: skip
    keys = [[e.idempotency_key for e in entries] for entries in written]
    assert keys == [["bulk-1:points", "bulk-1:growth"], ["bulk-2:points"], ["bulk-3:points", "bulk-3:growth"],
                    ["bulk-4:growth"]]  # fmt: skip
    assert state(bulk_members) == state(one_by_one)
    assert ledger_problems() == {}


def test_a_retry_returns_the_entries_and_a_changed_request_conflicts(db, points_type, growth_type):
    members = [MemberFactory() for _ in range(3)]
    first = points_earn_bulk(requests(members, points_type, growth_type, "k"), at=T0)
    again = points_earn_bulk(requests(members, points_type, growth_type, "k"), at=T0 + days(1))
    assert again == first and Entry.objects.count() == 6
    changed = requests(members, points_type, growth_type, "k")
    changed[1] = EarnRequest(members[1].pk, {points_type: 8}, "event", "k-2", available_at=T0)
    with pytest.raises(IdempotencyConflict):
        points_earn_bulk(changed, at=T0)
    assert Entry.objects.count() == 6
