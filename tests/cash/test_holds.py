"""Holds through the services, with the clock in hand: what a hold takes, what refuses it, the
job releasing expired holds, points whose date passed while held, capturing only the sale the
points were held for, and refunds giving back their share (rounding, remainder, expiry)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from campaigns.earning.facts import purchase_record_and_earn, refund_record_and_earn
from members.errors import MemberClosed
from members.models import Member
from members.purchases.services import purchase_record
from points.cash.errors import (
    BelowMinimumBalance,
    CashUnavailable,
    HoldClosed,
    HoldExpired,
    HoldMismatch,
    NotAStep,
    OverCashLimit,
)
from points.cash.models import CashRule, Hold, HoldRefund
from points.cash.selectors import member_quote
from points.cash.services import hold_create, hold_release, holds_release_expired, purchase_record_with_hold
from points.errors import InsufficientPoints, NotRedeemable
from points.models import Entry, Lot
from points.selectors import ledger_problems
from points.services import lots_expire_due
from tests.cash.conftest import LINES, T0, account, basket, earn, local, open_lots
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db

MINUTE = datetime.timedelta(minutes=1)
OLD = local(2025, 5, 1, 9)  # expires 2026-05-01 09:00
NEW = local(2026, 2, 1, 9)  # expires 2027-02-01 09:00
EXP_OLD, EXP_NEW = local(2026, 5, 1, 9), local(2027, 2, 1, 9)


@pytest.fixture
def member(rule) -> Member:
    member = MemberFactory(name="李娜")
    earn(member, 3000, OLD)
    earn(member, 5000, NEW)
    return member


@pytest.fixture
def store(db):
    return StoreFactory(code="S01", name="南京西路店")


def hold(member: Member, points: int, key: str = "till-1", at: datetime.datetime = T0, **where) -> Hold:
    where.setdefault("store", None)
    return hold_create(
        member=member,
        points=points,
        basket=basket("188.00", lines=LINES, **where),
        idempotency_key=key,
        at=at,
    )


def pay(member: Member, the_hold: Hold, *, order: str = "S-1", at: datetime.datetime = T0 + MINUTE, **fields):
    values = {
        "member": member, "source": "pos", "order_number": order, "channel": "store", "occurred_at": at,
        "gross_amount": Decimal("188.00"), "paid_amount": Decimal("188.00"), "store": None, **fields,
    }  # fmt: skip
    return purchase_record_and_earn(points_hold=the_hold, now=at, at=at, **values)


def refund(purchase, number: str, amount: str, at: datetime.datetime):
    return refund_record_and_earn(
        purchase=purchase, source="pos", refund_number=number, amount=Decimal(amount), occurred_at=at, at=at
    )


def test_a_hold_spends_soonest_expiring_first_until_its_time(member):
    held = hold(member, 5000)
    assert (held.points, held.value, held.status) == (5000, Decimal("50.00"), Hold.Status.ACTIVE)
    assert held.expires_at == T0 + 15 * MINUTE
    assert open_lots(member) == {EXP_NEW: 3000}
    state = account(member)
    assert (state.available, state.spent) == (3000, 5000)
    spend = Entry.objects.get(idempotency_key=f"cash:hold:{held.pk}")
    assert (spend.kind, spend.amount, spend.source_ref) == ("spend", -5000, f"hold:{held.pk}")
    assert held.entry == spend
    assert hold(member, 5000) == held  # the same key again: the same hold, nothing more held
    assert account(member).available == 3000
    assert ledger_problems() == {}


def test_what_refuses_a_hold_holds_nothing(member, rule):
    refusals = [
        (lambda: hold(member, 2550, "k1"), NotAStep, "points_step"),  # whole yuan: 100s
        (lambda: hold(member, 7000, "k2"), OverCashLimit, "over_cash_limit"),  # half of 138 CNY: 6,900
        (lambda: hold(member, 9000, "k3"), InsufficientPoints, "insufficient_points"),
    ]
    for attempt, error, code in refusals:
        with pytest.raises(error) as refused:
            attempt()
        assert refused.value.code == code
    with pytest.raises(NotRedeemable):
        hold_create(
            member=member, points=100, basket=basket(), idempotency_key="g", point_type="growth", at=T0
        )
    with pytest.raises(ValidationError) as reserved:
        hold(member, 100, "cash:hold:1")
    assert set(reserved.value.message_dict) == {"idempotency_key"}
    Member.objects.filter(pk=member.pk).update(status=Member.Status.FROZEN)
    member.refresh_from_db()
    with pytest.raises(MemberClosed):
        hold(member, 100, "frozen")
    assert member_quote(member, rule.point_type, basket()).refusal == "member_closed"
    Member.objects.filter(pk=member.pk).update(status=Member.Status.ACTIVE)
    member.refresh_from_db()
    CashRule.objects.filter(pk=rule.pk).update(min_balance=9000)
    with pytest.raises(BelowMinimumBalance):
        hold(member, 100, "k4")
    CashRule.objects.filter(pk=rule.pk).update(active=False)
    with pytest.raises(CashUnavailable):
        hold(member, 100, "k5")
    assert not Hold.objects.exists() and account(member).available == 8000
    assert not Entry.objects.filter(kind="spend").exists()


def test_the_job_releases_holds_past_their_time_with_the_dates_they_had(member):
    held = hold(member, 5000)
    assert holds_release_expired(now=T0 + 14 * MINUTE) == 0
    assert holds_release_expired(now=T0 + 15 * MINUTE) == 1
    held.refresh_from_db()
    assert (held.status, held.release_reason, held.released_at) == ("released", "expired", T0 + 15 * MINUTE)
    assert open_lots(member) == {EXP_OLD: 3000, EXP_NEW: 5000}
    assert account(member).available == 8000
    back = held.release_entry
    assert (back.kind, back.amount, back.idempotency_key) == ("refund", 5000, f"cash:release:{held.pk}")
    assert holds_release_expired(now=T0 + 30 * MINUTE) == 0  # twice is once
    with pytest.raises(HoldClosed):  # the till comes back too late
        pay(member, held, at=T0 + 16 * MINUTE)
    assert ledger_problems() == {}


def test_points_whose_date_passed_while_held_come_back_and_expire_at_the_next_run(member):
    """Held at 08:50 on the day the 2025 lot expires (09:00), released at 09:05: its 3,000 come
    back dated 09:00 and expire at the next run; the 2,000 of the newer lot are spendable."""
    at = EXP_OLD - 10 * MINUTE
    held = hold(member, 5000, at=at)
    assert holds_release_expired(now=EXP_OLD + 5 * MINUTE) == 1
    state = account(member)
    assert (state.available, state.expired) == (8000, 0)  # counted until the run, as any lot
    with pytest.raises(InsufficientPoints):  # but never spent: 5,000 are spendable
        hold(member, 5100, "after", at=EXP_OLD + 6 * MINUTE)
    assert lots_expire_due(now=EXP_OLD + 10 * MINUTE) == 1
    state = account(member)
    assert (state.available, state.expired, state.spent) == (5000, 3000, 5000)
    assert held.pk and ledger_problems() == {}


def test_only_the_sale_the_points_were_held_for_captures_them(member, store):
    held = hold(member, 5000, store=store)
    other = MemberFactory()
    mismatches = [
        ({"member": other}, "member_number"),
        ({"points_amount": Decimal("40.00")}, "points_amount"),
        ({"store": None}, "store"),
        ({"channel": "wechat_mp"}, "channel"),
    ]
    for fields, field in mismatches:
        values = {"store": store, **fields}
        with pytest.raises(HoldMismatch) as refused:
            pay(values.pop("member", member), held, **values)
        assert refused.value.details["field"] == field
    with pytest.raises(HoldExpired) as late:
        pay(member, held, store=store, at=T0 + 15 * MINUTE)
    assert late.value.details["field"] == "points_hold"
    assert Hold.objects.get(pk=held.pk).status == Hold.Status.ACTIVE
    purchase, created, _award = pay(member, held, store=store)
    assert created and purchase.points_amount == Decimal("50.00")
    again, created, _award = pay(member, held, store=store)  # the till sends it again
    assert (again, created) == (purchase, False)
    with pytest.raises(HoldClosed):
        hold_release(hold=held, at=T0 + 2 * MINUTE)
    # an order recorded before without the hold cannot take it afterwards
    second = hold(member, 1000, "till-2", store=store)
    purchase_record(
        member=member, source="pos", order_number="S-2", channel="store", occurred_at=T0, store=store,
        gross_amount=Decimal("188.00"), paid_amount=Decimal("188.00"), points_amount=Decimal("10.00"),
    )  # fmt: skip
    with pytest.raises(ValidationError) as twice:
        purchase_record_with_hold(
            hold=second, member=member, source="pos", order_number="S-2", channel="store", occurred_at=T0,
            store=store, gross_amount=Decimal("188.00"), paid_amount=Decimal("188.00"), now=T0 + MINUTE,
        )  # fmt: skip
    assert twice.value.error_dict["order_number"][0].code == "conflict"
    assert Hold.objects.get(pk=second.pk).status == Hold.Status.ACTIVE


def test_refunds_give_back_their_share_and_the_last_one_the_rest(member):
    """3,300 积分 (33 CNY) paid part of 100 CNY; three refunds of 33.33, 33.33 and 33.34 CNY give
    back floor(3,300 x 33.33 / 100) = 1,099, then floor(3,300 x 66.66 / 100) - 1,099 = 1,100,
    then the remaining 1,101: CNY 10.99, 11.00 and 11.01, 33.00 in all."""
    held = hold_create(member=member, points=3300, basket=basket("100.00"), idempotency_key="r", at=T0)
    purchase, _created, _award = pay(
        member, held, gross_amount=Decimal("100.00"), paid_amount=Decimal("100.00")
    )
    for number, amount in [("R1", "33.33"), ("R2", "33.33"), ("R3", "33.34")]:
        refund(purchase, number, amount, T0 + 5 * MINUTE)
    rows = list(HoldRefund.objects.order_by("id").values_list("refund__refund_number", "points", "value"))
    assert rows == [
        ("R1", 1099, Decimal("10.99")),
        ("R2", 1100, Decimal("11.00")),
        ("R3", 1101, Decimal("11.01")),
    ]
    assert open_lots(member) == {EXP_OLD: 3000, EXP_NEW: 5000}
    refund(purchase, "R1", "33.33", T0 + 5 * MINUTE)  # sent again: given back once
    assert HoldRefund.objects.count() == 3 and account(member).available == 8000
    assert ledger_problems() == {}


def test_a_refund_after_the_points_date_gives_them_back_to_expire(member):
    """5,000 held at T0 (3,000 of the 2025 lot, expiring 1 May): the whole purchase is refunded
    in June. The 2,000 of the newer lot come back spendable; the 3,000 come back dated 1 May and
    expire at the next run (they would have expired had they not paid)."""
    held = hold(member, 5000)
    purchase, _created, _award = pay(member, held)
    june = local(2026, 6, 1, 10)
    refund(purchase, "R-6", "188.00", june)
    assert HoldRefund.objects.get().points == 5000
    lots = dict(Lot.objects.filter(entry__kind="refund").values_list("expires_at", "remaining"))
    assert lots == {EXP_OLD: 3000, EXP_NEW: 2000}
    assert lots_expire_due(now=june) == 1
    state = account(member)
    assert (state.available, state.expired) == (5000, 3000)
    assert ledger_problems() == {}


def test_a_refund_of_a_purchase_paid_with_points_held_nowhere_gives_nothing(member):
    """An imported receipt says points paid 10 CNY, but no hold of this programme did."""
    purchase, _created = purchase_record(
        member=member, source="pos", order_number="IMP-1", channel="store", occurred_at=T0,
        gross_amount=Decimal("100.00"), paid_amount=Decimal("100.00"), points_amount=Decimal("10.00"),
    )  # fmt: skip
    refund(purchase, "IMP-R", "100.00", T0 + MINUTE)
    assert not HoldRefund.objects.exists() and account(member).available == 8000
