"""Reminders, liability and the reconcile command, as finance and the reminder job see them."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from points.models import Account, Lot
from points.selectors import account_history, next_expiries, points_expiring, points_liability
from points.services import lots_activate_due, lots_expire_due, points_earn, points_spend
from tests.points.conftest import T0, days, key

pytestmark = pytest.mark.django_db


def earn(member, amount, at=T0, code="points"):
    return points_earn(member=member, point_type=code, amount=amount, source="purchase", source_ref=key("p"),
                       idempotency_key=key(), at=at)  # fmt: skip


def test_points_expiring_within_n_days_per_member(alice, bob, points_type):
    points_type.expiry_policy, points_type.expiry_period = "rolling", 1
    points_type.save()
    earn(alice, 30, at=T0)
    earn(alice, 20, at=T0 + days(20))
    earn(bob, 5, at=T0 + days(40))
    rows = list(points_expiring(point_type=points_type, within_days=10, now=T0 + days(25)))
    assert rows == [
        {
            "account__member_id": alice.pk,
            "points": 30,
            "first_expiry": Lot.objects.order_by("id")[0].expires_at,
        }
    ]
    later = {
        r["account__member_id"]: r["points"]
        for r in points_expiring(point_type=points_type, within_days=60, now=T0 + days(25))
    }
    assert later == {alice.pk: 50, bob.pk: 5}


def test_next_expiry_adds_up_the_lots_of_the_soonest_last_valid_day(alice, bob):
    def local(*args):
        return timezone.make_aware(datetime.datetime(*args))

    expiries = [
        (100, local(2027, 1, 1, 0, 0)),  # from 1 Jan 00:00: valid through 31 Dec
        (50, local(2026, 12, 31, 18, 0)),  # the soonest: also through 31 Dec
        (30, local(2027, 1, 1, 9, 0)),  # valid through 1 Jan: the next day, not counted
        (20, local(2026, 3, 20, 0, 0)),  # already expired on the day asked
    ]
    for amount, expires_at in expiries:
        Lot.objects.filter(pk=earn(alice, amount).lots.get().pk).update(expires_at=expires_at)
    spent = earn(alice, 40).lots.get()  # expires first, but nothing is left of it
    Lot.objects.filter(pk=spent.pk).update(expires_at=local(2026, 12, 1), remaining=0)
    earn(bob, 7)  # another account: its own figures
    accounts = {a.member_id: a.pk for a in Account.objects.filter(point_type__code="points")}
    found = next_expiries([accounts[alice.pk], accounts[bob.pk]], now=T0 + days(30))
    assert (found[accounts[alice.pk]].points, found[accounts[alice.pk]].last_day) == (
        150, datetime.date(2026, 12, 31),
    )  # fmt: skip
    assert found[accounts[alice.pk]].expires_at == local(2026, 12, 31, 18, 0)
    assert found[accounts[bob.pk]].points == 7


def test_liability_by_expiry_month_and_breakage_from_history(alice, points_type):
    earn(alice, 100, at=T0)  # expires 2028-01-01 (calendar)
    lots_activate_due(now=T0 + days(7))
    points_spend(member=alice, point_type="points", amount=50, idempotency_key=key(), at=T0 + days(8))
    earn(alice, 200, at=T0 + days(400))  # 2027: expires 2029-01-01
    lots_expire_due(now=T0 + days(700))  # the first lot's last 50 expire
    liability = points_liability(now=T0 + days(700))
    assert liability.outstanding_points["points"] == 200
    assert liability.outstanding_value["points"] == Decimal("2.00")
    assert liability.breakage_rate["points"] == Decimal("0.5")  # 50 expired of 100 that left
    assert liability.expected_cost["points"] == Decimal("1.00")
    months = [(r.point_type.code, r.expiry_month.isoformat(), r.points) for r in liability.rows]
    assert months == [("points", "2029-01-01", 200)]


def test_history_is_newest_first_and_keyset_paginated(alice):
    for _ in range(5):
        earn(alice, 1)
    account = Account.objects.get(member=alice, point_type__code="points")
    first_page = account_history(account, limit=3)
    second_page = account_history(account, limit=3, before_id=first_page[-1].pk)
    assert [e.pk for e in first_page + second_page] == sorted(
        (e.pk for e in first_page + second_page), reverse=True
    )
    assert len(second_page) == 2


def test_reconcile_passes_on_a_sound_ledger_and_names_a_broken_account(alice, bob):
    earn(alice, 10)
    earn(bob, 10)
    out = io.StringIO()
    call_command("reconcile_points", stdout=out)
    assert "every invariant holds" in out.getvalue()
    Account.objects.filter(member=bob).update(pending=11)  # a cache drifting from its entries
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 of 2 accounts"):
        call_command("reconcile_points", stdout=out)
    assert bob.member_number in out.getvalue() and "sum of entries" in out.getvalue()
    assert alice.member_number not in out.getvalue()
