"""Many tills, apps and jobs touching the same points at the same moment: nobody overdraws, nothing
is posted twice, nothing deadlocks, and the books still balance.

Runs on PostgreSQL only: SQLite serialises writers, so it cannot show the races. Each test commits
for real (``transaction=True``), and the database is emptied after each, point types included.
Each lock test with a ``[control...]`` beside it runs the same race with the lock off.
"""

from __future__ import annotations

import datetime
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import F, Sum

from config.common.errors import IdempotencyConflict
from members.models import Member
from points.errors import ApprovalError, InsufficientPoints, NothingToReverse
from points.models import Account, AdjustmentRequest, Entry, Lot, PointType, Source
from points.selectors import ledger_problems
from points.services import (
    adjustment_approve,
    adjustment_reject,
    lots_activate_due,
    lots_expire_due,
    points_adjust,
    points_earn,
    points_earn_many,
    points_reverse,
    points_spend,
    points_transfer,
)
from tests.concurrency import FIRST_WRITE, LOCKED_AND_CONTROL, race, unless
from tests.factories import MemberFactory
from tests.points.conftest import T0, days

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and races need PostgreSQL"),
]

T_OLD = T0 - days(270)  # 2025-06: calendar clear-out on 1 Jan 2027
T_CLEAR_OUT = T0 + days(400)  # 2027-04: after the 2025 points' clear-out, before the 2026 ones'
BUSINESS_ERRORS = (InsufficientPoints, NothingToReverse, ValidationError)


def account(member: Member) -> Account:
    return Account.objects.get(member=member, point_type__code="points")


def earn(
    member: Member, amount: int, *, ref: str, at: datetime.datetime = T0, available: bool = True
) -> Entry:
    return points_earn(
        member=member, point_type="points", amount=amount, source=Source.PURCHASE, source_ref=ref,
        idempotency_key=f"earn:{ref}", at=at, available_at=at if available else None,
    )  # fmt: skip


def assert_books_balance() -> None:
    """Every invariant holds, and the entries add up to what members hold."""
    assert ledger_problems() == {}
    held = Account.objects.aggregate(total=Sum(F("available") + F("pending")))["total"] or 0
    assert (Entry.objects.aggregate(total=Sum("amount"))["total"] or 0) == held


def test_fifty_tills_spending_ten_from_one_hundred_points_never_overdraw():
    """50 redemptions of 10 race for 100 available points: exactly 10 go through, 40 are refused."""
    alice = MemberFactory()
    earn(alice, 100, ref="P1")

    results = race(
        50,
        lambda i: points_spend(
            member=alice, point_type="points", amount=10, idempotency_key=f"spend-{i}", at=T0 + days(1)
        ),
    )

    spent = [r for r in results if isinstance(r, Entry)]
    refused = [r for r in results if isinstance(r, InsufficientPoints)]
    assert (len(spent), len(refused)) == (10, 40), [r for r in results if not isinstance(r, Entry)]
    assert sorted(e.balance_after for e in spent) == list(range(0, 100, 10))  # one after the other
    acc = account(alice)
    assert (acc.available, acc.pending, acc.debt, acc.spent) == (0, 0, 0, 100)
    assert_books_balance()


def test_a_new_members_first_points_from_twenty_tills_at_once_open_one_account():
    """The account is opened by whichever till comes first; none of the 20 earns is lost."""
    carol = MemberFactory()

    results = race(20, lambda i: earn(carol, 5, ref=f"first-{i}"))

    assert all(isinstance(r, Entry) for r in results), results
    assert Account.objects.filter(member=carol).count() == 1
    assert (account(carol).available, account(carol).earned) == (100, 100)
    assert_books_balance()


def test_transfers_both_ways_at_once_never_deadlock():
    """Alice and Bob send each other points at the same moment while the nightly jobs activate and
    clear out their lots: every transfer goes through, nobody waits forever, no point is lost."""
    alice, bob = MemberFactory(), MemberFactory()
    for member, name in ((alice, "A"), (bob, "B")):
        earn(member, 500, ref=name)
        earn(member, 100, ref=f"{name}-2025", at=T_OLD)  # spent first, cleared out by the job
        earn(member, 50, ref=f"{name}-pending", available=False)  # activated by the job

    def work(i: int) -> Any:
        if i % 10 == 9:
            return lots_activate_due(now=T0 + days(8)) if i % 20 == 9 else lots_expire_due(now=T_CLEAR_OUT)
        sender, receiver = (alice, bob) if i % 2 else (bob, alice)
        return points_transfer(
            from_member=sender, to_member=receiver, point_type="points", amount=10, idempotency_key=f"t-{i}",
            at=T0 + days(1),
        )  # fmt: skip

    results = race(40, work)

    assert all(isinstance(r, (tuple, int)) for r in results), [r for r in results if isinstance(r, Exception)]
    assert Entry.objects.filter(kind=Entry.Kind.TRANSFER).count() == 2 * 36
    expired = -(Entry.objects.filter(kind=Entry.Kind.EXPIRE).aggregate(total=Sum("amount"))["total"] or 0)
    assert account(alice).balance + account(bob).balance == 2 * 650 - expired
    # each job run reports only what it did: the 2 pending lots activated once, each lot expired once
    assert sum(r for r in results if isinstance(r, int)) == 2 + Entry.objects.filter(kind="expire").count()
    assert_books_balance()


@pytest.fixture
def funded() -> tuple[Member, Member, User]:
    """Alice with 100 available points from purchase P1, Bob with none, and an operator."""
    alice, bob = MemberFactory(), MemberFactory()
    earn(alice, 100, ref="P1")
    return alice, bob, User.objects.create_user(username="operator-race")


def _same_request(operation: str, alice: Member, bob: Member, operator: User) -> Callable[[int], Any]:
    at = T0 + days(1)
    calls: dict[str, Callable[[], Any]] = {
        "earn": lambda: points_earn(
            member=alice, point_type="points", amount=30, source=Source.PURCHASE, source_ref="P2",
            idempotency_key="retry", at=at,
        ),
        "spend": lambda: points_spend(
            member=alice, point_type="points", amount=30, source_ref="R1", idempotency_key="retry", at=at
        ),
        "reverse": lambda: points_reverse(
            member=alice, point_type="points", source=Source.PURCHASE, source_ref="P1", amount=30,
            idempotency_key="retry", at=at,
        ),
        "adjust": lambda: points_adjust(
            member=alice, point_type="points", amount=-30, reason="客诉纠错", actor=operator,
            idempotency_key="retry", at=at,
        ),
        "transfer": lambda: points_transfer(
            from_member=alice, to_member=bob, point_type="points", amount=30, idempotency_key="retry", at=at
        ),
    }  # fmt: skip
    return lambda _i: calls[operation]()


@pytest.mark.parametrize("operation", ["earn", "spend", "reverse", "adjust", "transfer"])
def test_twenty_concurrent_retries_post_once_and_all_get_the_same_entry(funded, operation: str):
    """A till retrying one request 20 times at once moves the points once; every retry sees that entry."""
    alice, bob, operator = funded

    results = race(20, _same_request(operation, alice, bob, operator))

    assert not [r for r in results if isinstance(r, Exception)], results
    if operation == "transfer":
        assert len({(out.pk, incoming.pk) for out, incoming in results}) == 1
        assert Entry.objects.filter(idempotency_key__startswith="retry").count() == 2
        assert (account(alice).balance, account(bob).balance) == (70, 30)
    else:
        assert len({r.pk for r in results}) == 1
        assert Entry.objects.get(idempotency_key="retry").pk == results[0].pk
        assert account(alice).balance == (130 if operation == "earn" else 70)
    assert_books_balance()


def _earn_on(member: Member, amount: int) -> Callable[[], Entry]:
    return lambda: points_earn(
        member=member, point_type="points", amount=amount, source=Source.EVENT, idempotency_key="clash", at=T0
    )


def _clashing_requests(scenario: str, alice: Member, bob: Member, operator: User) -> list[Callable[[], Any]]:
    """20 requests under one key, from groups of identical requests (one callable per group)."""
    at = T0 + days(1)
    if scenario == "one member, different amounts":
        groups = [_earn_on(alice, amount) for amount in (10, 11, 12, 13)]
    elif scenario == "different members":
        groups = [_earn_on(member, 10) for member in [alice, bob, *(MemberFactory() for _ in range(4))]]
    else:
        assert scenario == "different operations"
        groups = [
            _earn_on(alice, 10),
            _earn_on(bob, 10),
            lambda: points_spend(member=alice, point_type="points", amount=5, idempotency_key="clash", at=at),
            lambda: points_adjust(
                member=bob, point_type="points", amount=5, reason="补偿", actor=operator,
                idempotency_key="clash", at=at,
            ),
            lambda: points_reverse(
                member=alice, point_type="points", source=Source.PURCHASE, source_ref="P1", amount=5,
                idempotency_key="clash", at=at,
            ),
        ]  # fmt: skip
    return [groups[i % len(groups)] for i in range(20)]


@pytest.mark.parametrize(
    "scenario", ["one member, different amounts", "different members", "different operations"]
)
def test_one_key_for_different_requests_at_once_posts_one_and_refuses_the_rest(funded, scenario: str):
    """Two different requests under one key: the first wins, a different one gets a clear conflict
    (409), an identical one gets the winner's entry. Never a database error, never two entries."""
    alice, bob, operator = funded
    requests = _clashing_requests(scenario, alice, bob, operator)

    results = race(len(requests), lambda i: requests[i]())

    winner = Entry.objects.get(idempotency_key="clash")
    won = [i for i, r in enumerate(results) if isinstance(r, Entry)]
    conflicts = [i for i, r in enumerate(results) if isinstance(r, IdempotencyConflict)]
    assert len(won) + len(conflicts) == len(results), [
        repr(r) for r in results if isinstance(r, Exception) and not isinstance(r, IdempotencyConflict)
    ]
    assert {results[i].pk for i in won} == {winner.pk}
    # identical requests share the winner's callable, so they all got the entry back
    assert {i for i in range(len(requests)) if requests[i] is requests[won[0]]} == set(won)
    assert_books_balance()


def test_racing_earn_spend_reverse_expire_activate_transfer_keep_the_books_balanced():
    """Tills, refunds, transfers, operators and the nightly jobs all at once on two members: only
    business refusals, no deadlock, and every invariant holds; the entries add up to the balances."""
    members = [MemberFactory(), MemberFactory()]
    operator = User.objects.create_user(username="operator-mix")
    for n, member in enumerate(members):  # some history to spend, reverse and expire
        earn(member, 200, ref=f"seed-old-{n}", at=T_OLD)
        earn(member, 200, ref=f"seed-new-{n}", at=T0, available=n == 0)
    earned_refs = [(m, f"seed-{age}-{n}") for n, m in enumerate(members) for age in ("old", "new")]
    refs_lock = threading.Lock()
    pending_earns = 1  # bob's seed-new-1
    pending_lock = threading.Lock()
    threads, rounds = 20, 10

    def act(rng: random.Random, tag: str) -> Any:
        nonlocal pending_earns
        op = rng.choice(
            ["earn", "earn", "spend", "spend", "reverse", "transfer", "adjust", "activate", "expire"]
        )
        member = rng.choice(members)
        at = T0 + days(10)
        if op == "earn":
            available = rng.random() < 0.5
            entry = earn(member, rng.randint(1, 60), ref=tag, at=rng.choice([T_OLD, T0]), available=available)
            with refs_lock:
                earned_refs.append((member, tag))
            if not available:
                with pending_lock:
                    pending_earns += 1
            return entry
        if op == "spend":
            return points_spend(
                member=member, point_type="points", amount=rng.randint(1, 80), idempotency_key=tag, at=at
            )
        if op == "reverse":
            with refs_lock:
                member, ref = rng.choice(earned_refs)
            return points_reverse(
                member=member, point_type="points", source=Source.PURCHASE, source_ref=ref,
                amount=rng.choice([None, rng.randint(1, 80)]), idempotency_key=tag, at=at,
            )  # fmt: skip
        if op == "transfer":
            receiver = members[1 - members.index(member)]
            return points_transfer(
                from_member=member, to_member=receiver, point_type="points", amount=rng.randint(1, 80),
                idempotency_key=tag, at=at,
            )  # fmt: skip
        if op == "adjust":
            return points_adjust(
                member=member, point_type="points", amount=rng.choice([-1, 1]) * rng.randint(1, 50),
                reason="盘点", actor=operator, idempotency_key=tag, at=at,
            )  # fmt: skip
        if op == "activate":
            return ("activated", lots_activate_due(now=T0 + days(8)))
        return ("expired", lots_expire_due(now=T_CLEAR_OUT))

    def work(i: int) -> list[Any]:
        rng = random.Random(2026 + i)
        outcomes = []
        for r in range(rounds):
            try:
                outcomes.append(act(rng, f"t{i}-r{r}"))
            except BUSINESS_ERRORS as exc:
                if isinstance(exc, ValidationError):  # the only one expected: reversing too much
                    assert "amount" in exc.message_dict, exc
                outcomes.append(exc)
        return outcomes

    results = race(threads, work)

    crashed = [r for r in results if isinstance(r, BaseException)]
    assert not crashed, crashed
    outcomes = [o for per_thread in results for o in per_thread]
    posted = [o for o in outcomes if isinstance(o, Entry)]
    posted += [entry for o in outcomes if isinstance(o, tuple) and isinstance(o[0], Entry) for entry in o]
    assert len(posted) > threads  # the race did move points, not just refuse everything
    # every entry is one a caller got back, plus the seeds and the expiries the job posted
    assert Entry.objects.exclude(kind=Entry.Kind.EXPIRE).count() == len(posted) + 4
    expired_lots = sum(o[1] for o in outcomes if isinstance(o, tuple) and o[0] == "expired")
    assert Entry.objects.filter(kind=Entry.Kind.EXPIRE).count() == expired_lots
    activated = sum(o[1] for o in outcomes if isinstance(o, tuple) and o[0] == "activated")
    assert activated + Lot.objects.filter(status=Lot.Status.PENDING).count() == pending_earns
    assert_books_balance()

    # the jobs catch up on what is left, and the books still balance
    lots_activate_due(now=T0 + days(8))
    lots_expire_due(now=T_CLEAR_OUT)
    assert not Lot.objects.filter(status=Lot.Status.PENDING).exists()
    assert_books_balance()


def test_two_expiry_jobs_at_once_expire_each_lot_exactly_once():
    """The nightly clear-out started more than once at a time (two workers, plus two more working in
    small chunks): each lot expires once, no more."""
    members = [MemberFactory() for _ in range(6)]
    for n, member in enumerate(members):
        for k in range(3):
            earn(member, 10 * (k + 1), ref=f"old-{n}-{k}", at=T_OLD, available=k != 2)
        earn(member, 50, ref=f"new-{n}", at=T0)  # not due yet
        points_spend(member=member, point_type="points", amount=3 + n, idempotency_key=f"s-{n}", at=T0)
    due = Lot.objects.filter(remaining__gt=0, expires_at__lte=T_CLEAR_OUT)
    due_count, due_points = due.count(), due.aggregate(total=Sum("remaining"))["total"]
    assert due_count == 18

    results = race(4, lambda i: lots_expire_due(now=T_CLEAR_OUT, chunk=[1000, 1000, 1, 2][i]))

    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == due_count
    expiries = Entry.objects.filter(kind=Entry.Kind.EXPIRE)
    assert expiries.count() == due_count
    assert expiries.values("source_ref").distinct().count() == due_count  # one per lot
    assert -expiries.aggregate(total=Sum("amount"))["total"] == due_points
    assert Account.objects.aggregate(total=Sum("expired"))["total"] == due_points
    assert not due.exists()
    assert_books_balance()


def approver(name: str) -> User:
    user = User.objects.create_user(name, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="approve_adjustment"))
    return User.objects.get(pk=user.pk)  # permissions are cached per instance


@pytest.mark.parametrize(
    "off",
    [
        None,
        "points/services/adjustments.py::adjustment_approve",
        "points/services/adjustments.py::adjustment_reject",
    ],
    ids=["locked", "control-approve", "control-reject"],
)
def test_an_adjustment_approved_and_rejected_at_once_is_one_or_the_other(funded, off: str | None):
    """Two approvers decide one request for 5,000 points at the same moment, one yes and one no:
    one decision stands, the other is told it was already decided. Without either lock both
    stand: the points are posted and the request says rejected."""
    alice, _bob, operator = funded
    request = points_adjust(
        member=alice, point_type="points", amount=5000, reason="补录", actor=operator, idempotency_key="big",
        at=T0,
    )  # fmt: skip
    assert isinstance(request, AdjustmentRequest)
    yes, no = approver("approver-1"), approver("approver-2")
    decisions = [
        lambda: adjustment_approve(request=request, approver=yes, at=T0),
        lambda: adjustment_reject(request=request, approver=no, note="金额不对"),
    ]

    with unless(off is None, *([off] if off else [])):
        results = race(2, lambda i: decisions[i](), meet=FIRST_WRITE)

    refused = [r for r in results if isinstance(r, ApprovalError)]
    assert all(isinstance(r, (Entry, AdjustmentRequest, ApprovalError)) for r in results), results
    assert len(refused) == (1 if off is None else 0)
    if off is None:
        request.refresh_from_db()
        posted = Entry.objects.filter(kind=Entry.Kind.ADJUST).exists()
        assert posted == (request.status == AdjustmentRequest.Status.POSTED)
        assert_books_balance()


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_a_purchase_earning_two_point_types_while_the_member_spends_keeps_both(funded, locked: bool):
    """A purchase posts 积分 and 成长值 (one call for both types) while the member spends 30 at a
    till: 100 + 50 - 30 = 120 left. Without the earn's account lock it writes the balance it read
    before the spend, and the ledger no longer adds up."""
    alice, _bob, _operator = funded
    types = {t.code: t for t in PointType.objects.filter(code__in=["points", "growth"])}
    # Both accounts exist, as for a member who bought before: otherwise the earn's first write
    # is creating the 成长值 account, and it reads the accounts again after the meeting point.
    Account.objects.get_or_create(member=alice, point_type=types["growth"])

    def work(i: int) -> Any:
        if i == 0:
            return points_earn_many(
                member=alice, amounts={types["points"]: 50, types["growth"]: 50}, source=Source.PURCHASE,
                source_ref="P2", key="purchase:P2", at=T0, available_at=T0,
            )  # fmt: skip
        return points_spend(member=alice, point_type="points", amount=30, idempotency_key="till", at=T0)

    with unless(locked, "points/services/common.py::lock_accounts_many.locked"):
        results = race(2, work, meet=FIRST_WRITE)

    assert not [r for r in results if isinstance(r, Exception)], results
    if locked:
        assert account(alice).available == 120
        assert_books_balance()
    else:
        assert ledger_problems() != {}


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_a_clear_out_while_the_member_spends_keeps_the_books(locked: bool):
    """The calendar clear-out expires last year's points while the member spends 30: what is left
    is 300 less the spend and the clear-out, and the books balance. Without the job's account
    lock it writes the balance it read before the spend."""
    member = MemberFactory()
    earn(member, 100, ref="old", at=T_OLD)
    earn(member, 200, ref="new", at=T0)

    def work(i: int) -> Any:
        if i == 0:
            return lots_expire_due(now=T_CLEAR_OUT)
        return points_spend(
            member=member, point_type="points", amount=30, idempotency_key="till", at=T_CLEAR_OUT
        )

    with unless(locked, "points/services/batch.py::_locked_accounts"):
        results = race(2, work, meet=FIRST_WRITE)

    assert not [r for r in results if isinstance(r, Exception)], results
    if locked:
        expired = -Entry.objects.filter(kind=Entry.Kind.EXPIRE).aggregate(total=Sum("amount"))["total"]
        assert account(member).available == 300 - 30 - expired
        assert_books_balance()
    else:
        assert ledger_problems() != {}


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_spends_deciding_on_one_balance_at_once_never_overdraw(funded, locked: bool):
    """Two tills have both read Alice's 100 points before either writes, each spending 60: one
    goes through, the other is refused. Without the account lock both see 100 and both spend."""
    alice, _bob, _operator = funded

    with unless(locked, "points/services/common.py::lock_accounts.locked"):
        results = race(
            2,
            lambda i: points_spend(
                member=alice, point_type="points", amount=60, idempotency_key=f"till-{i}", at=T0
            ),
            meet=FIRST_WRITE,
        )

    spent = [r for r in results if isinstance(r, Entry)]
    if locked:
        assert len(spent) == 1 and sum(isinstance(r, InsufficientPoints) for r in results) == 1, results
        assert account(alice).available == 40
        assert_books_balance()
    else:
        assert len(spent) == 2, results
