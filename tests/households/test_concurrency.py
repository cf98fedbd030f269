"""Household races on PostgreSQL: the pool is never overdrawn nor the cap exceeded, a spend and a
leave (or a join and a dissolve) each see the household before or after the other, never between.

Each test commits for real; the ``[control]`` beside it runs the same race with the lock off and
shows the harm.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from points.errors import InsufficientPoints
from points.households.errors import HouseholdRefused, PoolCapReached
from points.households.models import Household, HouseholdMembership, PoolDraw
from points.households.pool import household_spend
from points.households.services import (
    household_create,
    household_dissolve,
    household_join,
    household_leave,
    household_transfer_to_head,
)
from points.models import Account, PointType
from points.selectors import ledger_problems
from tests.concurrency import FIRST_WRITE, LOCKED_AND_CONTROL, Last, errors, race, unless
from tests.factories import MemberFactory
from tests.households.conftest import NOW, T0, balance, earn

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and races need PostgreSQL"),
]

HOUSEHOLD_LOCK = "points/households/pool.py::household_spend"
ACCOUNT_LOCK = "points/services/common.py::lock_accounts.locked"
MEMBERS_LOCK = "points/households/services.py::_locked_active"
ACCOUNTS_LOCKED = r'FROM "points_account".*FOR UPDATE'


def household(*, cap: int = 0, on_leave: str = "keep", members: int = 3):
    head = MemberFactory(name="户主")
    others = [MemberFactory(name=f"成员{i}") for i in range(members - 1)]
    home = household_create(
        name="并发之家", head=head, pool_spenders="all", monthly_cap=cap, on_leave=on_leave, at=T0
    )
    point_type = PointType.objects.get(code="points")
    for member in others:
        household_join(household=home, member=member, at=T0)
    for member in [head, *others]:
        # accounts exist, as for members who earned before: otherwise a spend's first write is
        # creating them, before it reads what it decides on
        Account.objects.get_or_create(member=member, point_type=point_type)
    return home, head, others


def spend(member, amount: int, key: str) -> Any:
    return household_spend(member=member, point_type="points", amount=amount, idempotency_key=key, at=NOW)


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_members_spending_the_pool_at_once_cannot_overdraw_it(locked: bool):
    """The head and a member, with nothing of their own, each spend 400 from a pool of 500 (the
    third member's): one goes through, the other is refused; 100 are left. Without the locks both
    read 500 and both draw 400: the giver's lot is spent twice."""
    _home, head, (mother, son) = household()
    earn(son, 500)

    with unless(locked, HOUSEHOLD_LOCK, ACCOUNT_LOCK):
        results = race(2, lambda i: spend([head, mother][i], 400, f"till-{i}"), meet=FIRST_WRITE)

    if locked:
        assert [type(e) for e in errors(results)] == [InsufficientPoints]
        assert balance(son) == 100 and PoolDraw.objects.count() == 1
        assert ledger_problems() == {}
    else:
        assert not errors(results) and PoolDraw.objects.count() == 2
        assert ledger_problems() != {}


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_one_member_spending_twice_at_once_stays_within_the_cap(locked: bool):
    """Cap 500: two spends of 300 by the head (nothing of his own) from a pool of 1000: one draws
    300, the other is refused (200 of the cap left). Without the locks both read 0 drawn."""
    _home, head, (mother, _son) = household(cap=500)
    earn(mother, 1000)

    with unless(locked, HOUSEHOLD_LOCK, ACCOUNT_LOCK):
        results = race(2, lambda i: spend(head, 300, f"till-{i}"), meet=FIRST_WRITE)

    drawn = sum(PoolDraw.objects.values_list("points", flat=True))
    if locked:
        assert [type(e) for e in errors(results)] == [PoolCapReached]
        assert drawn == 300 and balance(mother) == 700
        assert ledger_problems() == {}
    else:
        assert drawn == 600  # over the cap of 500


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_a_spend_racing_a_leave_sees_her_in_or_out_not_both(locked: bool):
    """张母 (500) gave the head (100 of his own) 200 and leaves (rule: what she gave and he has
    not spent goes back); at the same moment the head spends 400: his 300 (100 own + her 200)
    and 100 drawn from her.

    Either the spend goes first (draws 100; all she gave is spent: nothing to return; she keeps
    200) or the leave does (200 back to her; the head alone has 100: refused). Without the
    household lock the spend reads her as a member, the leave returns her 200, then the spend
    draws 300 from someone who has left."""
    _home, head, (mother,) = household(on_leave="return", members=2)
    earn(head, 100)
    earn(mother, 500)
    household_transfer_to_head(member=mother, points=200, idempotency_key="gift", at=NOW)

    def work(i: int) -> Any:
        if i == 0:
            return spend(head, 400, "till")
        return household_leave(member=mother, at=NOW)

    with unless(locked, HOUSEHOLD_LOCK):
        results = race(2, work, meet=[Last(ACCOUNTS_LOCKED), FIRST_WRITE])

    membership = HouseholdMembership.objects.get(member=mother)
    assert membership.left_at is not None
    drawn = sorted(PoolDraw.objects.values_list("points", flat=True))
    if locked:
        if isinstance(results[0], InsufficientPoints):  # she left first
            assert (drawn, membership.settled_points, balance(mother), balance(head)) == ([], 200, 500, 100)
        else:
            assert (drawn, membership.settled_points, balance(mother), balance(head)) == ([100], 0, 200, 0)
        assert ledger_problems() == {}
    else:
        assert (drawn, membership.settled_points) == ([300], 200)  # drawn after she left


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_a_join_racing_a_dissolve_leaves_nobody_in_a_dissolved_household(locked: bool):
    """Either the join goes first and the dissolve ends that membership too, or the dissolve goes
    first and the join is refused. Without the lock the dissolve lists the members before the
    join's row exists, and the newcomer stays in a household that no longer exists."""
    home, _head, _others = household(members=1)
    newcomer = MemberFactory()

    def work(i: int) -> Any:
        if i == 0:
            return household_join(household=home, member=newcomer, at=NOW)
        return household_dissolve(home, at=NOW)

    with unless(locked, MEMBERS_LOCK):
        results = race(2, work, meet=FIRST_WRITE)

    home.refresh_from_db()
    assert home.status == Household.Status.DISSOLVED
    still_in = HouseholdMembership.objects.filter(household=home, left_at__isnull=True).count()
    if locked:
        assert still_in == 0
        assert all(isinstance(e, HouseholdRefused) for e in errors(results))
    else:
        assert still_in == 1
