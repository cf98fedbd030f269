from __future__ import annotations

import datetime
import itertools

import pytest
from django.utils import timezone

from points.models import Account, Entry, Lot, LotAllocation, PointType
from points.selectors import ledger_problems
from tests.factories import MemberFactory

T0 = timezone.make_aware(datetime.datetime(2026, 3, 1, 10, 0))
_keys = itertools.count()


def ledger_snapshot() -> dict:
    """Every account, entry, lot and allocation by natural keys: two ways of posting the same
    facts (one by one, in bulk) must leave equal snapshots."""
    return {
        "accounts": sorted(
            Account.objects.values_list(
                "member__member_number", "point_type__code", "available", "pending", "debt", "earned",
                "spent", "expired", "flagged_at",
            )
        ),
        "entries": sorted(
            Entry.objects.values_list(
                "idempotency_key", "account__member__member_number", "account__point_type__code", "kind",
                "amount", "balance_after", "fingerprint", "source", "source_ref", "reason", "actor",
                "created_at",
            )
        ),
        "lots": sorted(
            Lot.objects.values_list(
                "entry__idempotency_key", "source", "source_ref", "amount", "remaining", "status",
                "available_at", "expires_at",
            ),
            key=str,
        ),
        "allocations": sorted(
            LotAllocation.objects.values_list(
                "entry__idempotency_key", "lot__entry__idempotency_key", "lot__expires_at", "amount"
            ),
            key=str,
        ),
    }  # fmt: skip


def key(prefix: str = "k") -> str:
    return f"{prefix}-{next(_keys)}"


def days(n: float) -> datetime.timedelta:
    return datetime.timedelta(days=n)


@pytest.fixture
def points_type(db) -> PointType:
    return PointType.objects.get(code="points")


@pytest.fixture
def growth_type(db) -> PointType:
    return PointType.objects.get(code="growth")


@pytest.fixture
def alice(db):
    return MemberFactory(name="爱丽丝")


@pytest.fixture
def bob(db):
    return MemberFactory(name="鲍勃")


@pytest.fixture
def reconciled():
    """Asserts every ledger invariant after the test body."""
    yield
    assert ledger_problems() == {}
