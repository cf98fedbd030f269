"""Races of points as cash on PostgreSQL: two tills holding the same points, a purchase capturing
a hold while the job (or the till) releases it. Each test commits for real; the ``[control]``
beside it runs the same race with the lock off and shows the harm."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from members.models import Member
from members.purchases.models import Purchase
from points.cash.errors import HoldClosed
from points.cash.models import CashRule, Hold
from points.cash.services import hold_create, hold_release, holds_release_expired, purchase_record_with_hold
from points.errors import InsufficientPoints
from points.models import Account, Entry, PointType
from points.selectors import ledger_problems
from tests.cash.conftest import T0, basket, earn
from tests.concurrency import FIRST_WRITE, LOCKED_AND_CONTROL, errors, race, unless
from tests.factories import MemberFactory

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and races need PostgreSQL"),
]

ACCOUNT_LOCK = "points/services/common.py::lock_accounts.locked"
CAPTURE_LOCK = "points/cash/services.py::purchase_record_with_hold"
JOB_LOCK = "points/cash/services.py::holds_release_expired"
RELEASE_LOCK = "points/cash/services.py::hold_release"
SECOND = datetime.timedelta(seconds=1)


def member_with(points: int) -> Member:
    PointType.objects.filter(code="points").update(expiry_policy="rolling", expiry_period=12)
    CashRule.objects.filter(point_type__code="points").update(active=True, max_share=100)
    member = MemberFactory(name="赵敏")
    earn(member, points, T0 - datetime.timedelta(days=30))
    return member


def held(member: Member, points: int, key: str) -> Hold:
    return hold_create(member=member, points=points, basket=basket("100.00"), idempotency_key=key, at=T0)


def capture(member: Member, hold: Hold, at: datetime.datetime) -> Any:
    return purchase_record_with_hold(
        hold=hold, member=member, source="pos", order_number="P-1", channel="store", occurred_at=T0,
        gross_amount=Decimal("100.00"), paid_amount=Decimal("100.00"), now=at,
    )  # fmt: skip


def available(member: Member) -> int:
    return Account.objects.get(member=member, point_type__code="points").available


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_tills_holding_the_same_points_hold_only_what_is_there(locked: bool):
    """1,000 积分, two tills hold 800 each at once: one holds, the other is refused; 200 are
    left. Without the account lock both read 1,000 and both hold 800 of the same lot."""
    member = member_with(1000)

    with unless(locked, ACCOUNT_LOCK):
        results = race(2, lambda i: held(member, 800, f"till-{i}"), meet=FIRST_WRITE)

    if locked:
        assert [type(e) for e in errors(results)] == [InsufficientPoints]
        assert Hold.objects.count() == 1 and available(member) == 200
        assert ledger_problems() == {}
    else:
        assert not errors(results) and sum(Hold.objects.values_list("points", flat=True)) == 1600
        assert ledger_problems() != {}


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_a_capture_racing_the_expiry_job_one_of_them_wins(locked: bool):
    """The till posts the purchase a second before the hold's time is up while the job, a
    second after, releases it: either the purchase captures the points (the job leaves the hold
    alone) or the job gives them back (the purchase is refused). Without the hold's lock both
    read it active: the purchase is paid with points the member also gets back."""
    member = member_with(1000)
    hold = held(member, 500, "till")

    def work(i: int) -> Any:
        if i == 0:
            return capture(member, hold, hold.expires_at - SECOND)
        return holds_release_expired(now=hold.expires_at + SECOND)

    with unless(locked, CAPTURE_LOCK, JOB_LOCK):
        results = race(2, work, meet=FIRST_WRITE)

    paid = Purchase.objects.filter(order_number="P-1").exists()
    given_back = Entry.objects.filter(idempotency_key=f"cash:release:{hold.pk}").exists()
    if locked:
        assert paid != given_back  # exactly one
        hold.refresh_from_db()
        if paid:
            assert (results[1], hold.status, available(member)) == (0, Hold.Status.CAPTURED, 500)
        else:
            assert isinstance(results[0], HoldClosed)
            assert (results[1], hold.status, available(member)) == (1, Hold.Status.RELEASED, 1000)
        assert ledger_problems() == {}
    else:
        assert paid and given_back


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_a_capture_racing_the_tills_release_one_of_them_wins(locked: bool):
    """The customer's card goes through (the purchase posts) as the cashier presses cancel
    (release): one wins. Without the hold's lock the points pay and come back."""
    member = member_with(1000)
    hold = held(member, 500, "till")

    def work(i: int) -> Any:
        if i == 0:
            return capture(member, hold, T0 + SECOND)
        return hold_release(hold=hold, at=T0 + SECOND)

    with unless(locked, CAPTURE_LOCK, RELEASE_LOCK):
        results = race(2, work, meet=FIRST_WRITE)

    paid = Purchase.objects.filter(order_number="P-1").exists()
    given_back = Entry.objects.filter(idempotency_key=f"cash:release:{hold.pk}").exists()
    if locked:
        assert paid != given_back
        assert len(errors(results)) == 1 and isinstance(errors(results)[0], HoldClosed)
        assert available(member) == (500 if paid else 1000)
        assert ledger_problems() == {}
    else:
        assert paid and given_back
