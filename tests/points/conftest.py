from __future__ import annotations

import datetime
import itertools

import pytest
from django.utils import timezone

from points.models import PointType
from points.selectors import ledger_problems
from tests.factories import MemberFactory

T0 = timezone.make_aware(datetime.datetime(2026, 3, 1, 10, 0))
_keys = itertools.count()


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
