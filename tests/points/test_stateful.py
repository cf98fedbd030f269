"""Random days in the life of a programme, checked against a plain-Python model after every step.

Hypothesis drives earn (pending or available at once), spend, reverse (all or part of one
purchase, possibly leaving a debt), small adjustments, large adjustments with approval or
rejection, transfers, retries and key clashes, the activation and expiry jobs, and a clock that
only moves forward, over three members. After every step every ledger invariant holds
(``ledger_problems() == {}``) and each account, down to each lot, is what the model says: what a
member can spend, what is pending, what they owe, the lifetime counters, and the balance as the
sum of everything posted. Refusals (not enough points, nothing left to reverse, reversing too
much) are predicted by the model, not merely tolerated.

Each example runs inside a savepoint rolled back in ``teardown``, so it starts from a clean
ledger; the programme's rules (expiry policy, return window) are drawn per example.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import ValidationError
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from config.common.errors import IdempotencyConflict
from points import policy
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
    points_reverse,
    points_spend,
    points_transfer,
)
from tests.factories import MemberFactory
from tests.points.conftest import T0, days

MEMBERS = 3
THRESHOLD = 100  # adjustments above this many points wait for approval

member = st.integers(0, MEMBERS - 1)
# a number of points, or one measured against what there is: all of it, one more, half
amount = st.sampled_from(["all", "all+1", "half"]) | st.integers(1, 60) | st.integers(1, 300)
chunk = st.sampled_from([1000, 1, 2])
later = st.sampled_from([0, 1, 7, 31, 200, 400])


def resolve(choice: int | str, there: int) -> int:
    if isinstance(choice, int):
        return choice
    return {"all": max(there, 1), "all+1": there + 1, "half": max(there // 2, 1)}[choice]


# --- the model -----------------------------------------------------------------------------


@dataclass(eq=False)
class ModelLot:
    seq: int  # creation order, as the lot ids are
    source: str
    ref: str
    from_earn: bool  # what points_reverse counts as the source's own points
    amount: int
    remaining: int
    pending: bool
    available_at: datetime.datetime
    expires_at: datetime.datetime | None

    def row(self) -> tuple:
        status = Lot.Status.PENDING if self.pending else Lot.Status.AVAILABLE
        return (
            self.amount,
            self.remaining,
            status,
            self.source,
            self.ref,
            self.available_at,
            self.expires_at,
        )


def by_expiry(lot: ModelLot) -> tuple:
    """Soonest-expiring first, never-expiring last, then oldest first."""
    return (lot.expires_at is None, lot.expires_at or datetime.datetime.min, lot.seq)


def take(lots: Iterable[ModelLot], wanted: int) -> int:
    """Take up to ``wanted`` points from ``lots`` in order; returns how many were taken."""
    taken = 0
    for lot in lots:
        part = min(lot.remaining, wanted - taken)
        if part <= 0:
            continue
        lot.remaining -= part
        taken += part
    return taken


@dataclass
class ModelAccount:
    lots: list[ModelLot] = field(default_factory=list)
    debt: int = 0
    earned: int = 0
    spent: int = 0
    expired: int = 0
    flagged: bool = False
    posted: int = 0  # the sum of every entry posted on the account
    reversed: dict[str, int] = field(default_factory=dict)  # per source ref

    @property
    def pending(self) -> int:
        return sum(lot.remaining for lot in self.lots if lot.pending)

    @property
    def available(self) -> int:
        return sum(lot.remaining for lot in self.lots if not lot.pending) - self.debt

    def figures(self) -> tuple:
        return (self.available, self.pending, self.debt, self.earned, self.spent, self.expired, self.flagged)

    def spendable(self, at: datetime.datetime) -> list[ModelLot]:
        lots = [lot for lot in self.lots if not lot.pending and lot.remaining > 0]
        return sorted((lot for lot in lots if lot.expires_at is None or lot.expires_at > at), key=by_expiry)

    def repay(self, amount: int) -> int:
        """New points pay the debt first; returns how many did."""
        repaid = min(self.debt, amount)
        self.debt -= repaid
        return repaid


def db_figures(account: Account | None) -> tuple:
    if account is None:  # never touched: no row yet
        return (0, 0, 0, 0, 0, 0, False)
    return (
        account.available, account.pending, account.debt, account.earned, account.spent, account.expired,
        account.flagged_at is not None,
    )  # fmt: skip


# --- the machine ---------------------------------------------------------------------------


class LedgerMachine(RuleBasedStateMachine):
    sources = Bundle("sources")  # (member, purchase ref) of successful earns
    requests = Bundle("requests")  # adjustment requests waiting for a decision
    decided = Bundle("decided")

    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.members = [MemberFactory() for _ in range(MEMBERS)]
        self.operator = User.objects.create_user(username="machine-operator")
        self.approver = User.objects.create_user(username="machine-approver")
        self.approver.user_permissions.add(Permission.objects.get(codename="approve_adjustment"))
        self.point_type = PointType.objects.get(code="points")
        self.accounts = [ModelAccount() for _ in range(MEMBERS)]
        self.now = T0
        self.seq = itertools.count()
        self.keys = itertools.count()
        self.retries: list[tuple[Callable[..., Any], dict[str, Any], Any]] = []

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # helpers

    def key(self, op: str) -> str:
        return f"{op}-{next(self.keys)}"

    def new_lot(self, m: int, amount: int, *, source: str, ref: str = "", from_earn: bool = False,
                available_at: datetime.datetime | None = None,
                expires_at: datetime.datetime | bool | None = True) -> None:  # fmt: skip
        """Incoming points: the debt is paid first, the rest stays in a new lot."""
        account = self.accounts[m]
        available_at = available_at or self.now
        account.lots.append(
            ModelLot(
                seq=next(self.seq), source=source, ref=ref, from_earn=from_earn, amount=amount,
                remaining=amount - account.repay(amount), pending=available_at > self.now,
                available_at=available_at,
                expires_at=policy.expires_at(self.point_type, self.now) if expires_at is True else expires_at,
            )
        )  # fmt: skip

    def posted(self, m: int, entry: Entry, kind: str, amount: int) -> None:
        account = self.accounts[m]
        account.posted += amount
        account.flagged |= account.available < 0
        assert (entry.kind, entry.amount, entry.balance_after) == (kind, amount, account.posted)

    def remember(self, service: Callable[..., Any], kwargs: dict[str, Any], result: Any) -> None:
        self.retries.append((service, kwargs, result))

    # the programme

    @initialize(
        expiry=st.sampled_from([("calendar", 1), ("rolling", 1), ("rolling", 6), ("never", 0)]),
        pending_days=st.sampled_from([7, 0, 30]),
    )
    def programme(self, expiry: tuple[str, int], pending_days: int) -> None:
        self.point_type.expiry_policy, self.point_type.expiry_period = expiry
        self.point_type.pending_days = pending_days
        self.point_type.approval_threshold = THRESHOLD
        self.point_type.save()

    @rule(d=st.integers(0, 10), h=st.sampled_from([0, 0, 1, 14]))
    def days_pass(self, d: int, h: int) -> None:
        self.now += days(d) + datetime.timedelta(hours=h)

    @rule(d=st.sampled_from([30, 183, 365, 400]) | st.integers(30, 400))
    def months_pass(self, d: int) -> None:
        self.now += days(d)

    # members' own movements

    @rule(
        target=sources, m=member, points=st.integers(1, 300), available_in=st.sampled_from([None, 3, 30, 500])
    )
    def earn(self, m: int, points: int, available_in: int | None) -> tuple[int, str]:
        """A purchase: pending for the programme's return window, or until a given day."""
        return self.purchase(m, points, available_in)

    @rule(target=sources, m=member, points=st.integers(1, 300), available_in=st.sampled_from([0, -1]))
    def earn_spendable_now(self, m: int, points: int, available_in: int) -> tuple[int, str]:
        return self.purchase(m, points, available_in)

    def purchase(self, m: int, amount: int, available_in: int | None) -> tuple[int, str]:
        ref = self.key("order")
        kwargs = {
            "member": self.members[m], "point_type": self.point_type, "amount": amount,
            "source": Source.PURCHASE, "source_ref": ref, "idempotency_key": self.key("earn"),
            "available_at": None if available_in is None else self.now + days(available_in),
        }  # fmt: skip
        entry = points_earn(**kwargs, at=self.now)
        self.new_lot(
            m, amount, source=Source.PURCHASE, ref=ref, from_earn=True,
            available_at=kwargs["available_at"] or policy.available_at(self.point_type, self.now),
        )  # fmt: skip
        self.accounts[m].earned += amount
        self.posted(m, entry, Entry.Kind.EARN, amount)
        self.remember(points_earn, kwargs, entry)
        return (m, ref)

    @rule(m=member, choice=amount)
    def spend(self, m: int, choice: int | str) -> None:
        spendable = self.accounts[m].spendable(self.now)
        amount = resolve(choice, sum(lot.remaining for lot in spendable))
        kwargs = {
            "member": self.members[m], "point_type": self.point_type, "amount": amount,
            "idempotency_key": self.key("spend"),
        }  # fmt: skip
        if sum(lot.remaining for lot in spendable) < amount:
            with pytest.raises(InsufficientPoints):
                points_spend(**kwargs, at=self.now)
            return
        entry = points_spend(**kwargs, at=self.now)
        take(spendable, amount)
        self.accounts[m].spent += amount
        self.posted(m, entry, Entry.Kind.SPEND, -amount)
        self.remember(points_spend, kwargs, entry)

    @rule(source=sources, choice=st.none() | amount)
    def reverse(self, source: tuple[int, str], choice: int | str | None) -> None:
        """A refund: the purchase's pending points, then its available ones, then other points
        (available before pending, soonest-expiring first); what is missing becomes a debt."""
        m, ref = source
        account = self.accounts[m]
        own = [lot for lot in account.lots if lot.from_earn and lot.ref == ref]
        reversible = sum(lot.amount for lot in own) - account.reversed.get(ref, 0)
        amount = None if choice is None else resolve(choice, reversible)
        kwargs = {
            "member": self.members[m], "point_type": self.point_type, "source": Source.PURCHASE,
            "source_ref": ref, "amount": amount, "idempotency_key": self.key("reverse"),
        }  # fmt: skip
        if reversible <= 0:
            with pytest.raises(NothingToReverse):
                points_reverse(**kwargs, at=self.now)
            return
        wanted = reversible if amount is None else amount
        if wanted > reversible:
            with pytest.raises(ValidationError) as refused:
                points_reverse(**kwargs, at=self.now)
            assert "amount" in refused.value.message_dict
            return
        entry = points_reverse(**kwargs, at=self.now)
        taken = take([lot for lot in own if lot.pending], wanted)
        taken += take([lot for lot in own if not lot.pending], wanted - taken)
        others = sorted((lot for lot in account.lots if lot not in own and lot.remaining > 0), key=by_expiry)
        taken += take(sorted(others, key=lambda lot: lot.pending), wanted - taken)
        account.debt += wanted - taken
        account.reversed[ref] = account.reversed.get(ref, 0) + wanted
        self.posted(m, entry, Entry.Kind.REVERSE, -wanted)
        self.remember(points_reverse, kwargs, entry)

    @rule(target=sources, m=member, points=st.integers(1, 300), partly=st.booleans())
    def refund_after_spending(self, m: int, points: int, partly: bool) -> tuple[int, str]:
        """A purchase spent at once, then refunded: what the balance cannot cover is owed."""
        source = self.purchase(m, points, 0)
        self.spend(m, "half" if partly else "all")
        self.reverse(source, None)
        return source

    @rule(sender=member, receiver=member, choice=amount)
    def transfer(self, sender: int, receiver: int, choice: int | str) -> None:
        spendable = self.accounts[sender].spendable(self.now)
        amount = resolve(choice, sum(lot.remaining for lot in spendable))
        kwargs = {
            "from_member": self.members[sender], "to_member": self.members[receiver],
            "point_type": self.point_type, "amount": amount, "idempotency_key": self.key("transfer"),
        }  # fmt: skip
        if sender == receiver:
            with pytest.raises(ValidationError):
                points_transfer(**kwargs, at=self.now)
            return
        if sum(lot.remaining for lot in spendable) < amount:
            with pytest.raises(InsufficientPoints):
                points_transfer(**kwargs, at=self.now)
            return
        out, incoming = points_transfer(**kwargs, at=self.now)
        received: dict[datetime.datetime | None, int] = {}  # one lot per expiry date, in order taken
        for lot in spendable:
            part = min(lot.remaining, amount - sum(received.values()))
            if part > 0:
                lot.remaining -= part
                received[lot.expires_at] = received.get(lot.expires_at, 0) + part
        self.posted(sender, out, Entry.Kind.TRANSFER, -amount)
        ref = f"from:{self.members[sender].member_number}"
        for expires_at, part in received.items():
            self.new_lot(receiver, part, source=Source.SYSTEM, ref=ref, expires_at=expires_at)
        self.posted(receiver, incoming, Entry.Kind.TRANSFER, amount)
        self.remember(points_transfer, kwargs, (out, incoming))

    # operators

    def model_adjust(self, m: int, amount: int) -> bool:
        """Apply an adjustment to the model; False (and no change) if it cannot be taken."""
        if amount > 0:
            self.new_lot(m, amount, source=Source.OPERATOR)
            return True
        spendable = self.accounts[m].spendable(self.now)
        if sum(lot.remaining for lot in spendable) < -amount:
            return False
        take(spendable, -amount)
        return True

    @rule(m=member, amount=st.integers(-THRESHOLD, THRESHOLD).filter(bool))
    def adjust(self, m: int, amount: int) -> None:
        kwargs = {
            "member": self.members[m], "point_type": self.point_type, "amount": amount, "reason": "客诉",
            "actor": self.operator, "idempotency_key": self.key("adjust"),
        }  # fmt: skip
        if not self.model_adjust(m, amount):
            with pytest.raises(InsufficientPoints):
                points_adjust(**kwargs, at=self.now)
            return
        entry = points_adjust(**kwargs, at=self.now)
        self.posted(m, entry, Entry.Kind.ADJUST, amount)
        self.remember(points_adjust, kwargs, entry)

    @rule(
        target=requests,
        m=member,
        amount=st.integers(THRESHOLD + 1, 3 * THRESHOLD),
        sign=st.sampled_from([1, -1]),
    )
    def request_adjustment(self, m: int, amount: int, sign: int) -> tuple[int, AdjustmentRequest]:
        request = points_adjust(
            member=self.members[m], point_type=self.point_type, amount=sign * amount, reason="活动补发",
            actor=self.operator, idempotency_key=self.key("request"), at=self.now,
        )  # fmt: skip
        assert isinstance(request, AdjustmentRequest) and request.status == AdjustmentRequest.Status.PENDING
        return (m, request)

    @rule(target=decided, pending=consumes(requests), approve=st.booleans())
    def decide(self, pending: tuple[int, AdjustmentRequest], approve: bool) -> AdjustmentRequest:
        """The approver posts it if the member has the points, else rejects it."""
        m, request = pending
        if approve and self.model_adjust(m, request.amount):
            entry = adjustment_approve(request=request, approver=self.approver, at=self.now)
            self.posted(m, entry, Entry.Kind.ADJUST, request.amount)
            return request
        if approve:
            with pytest.raises(InsufficientPoints):
                adjustment_approve(request=request, approver=self.approver, at=self.now)
            request.refresh_from_db()
            assert request.status == AdjustmentRequest.Status.PENDING
        adjustment_reject(request=request, approver=self.approver, note="不予补发")
        return request

    @rule(request=decided, approve=st.booleans())
    def decide_again(self, request: AdjustmentRequest, approve: bool) -> None:
        with pytest.raises(ApprovalError):
            if approve:
                adjustment_approve(request=request, approver=self.approver, at=self.now)
            else:
                adjustment_reject(request=request, approver=self.approver)

    # retries

    @precondition(lambda self: self.retries)
    @rule(data=st.data(), same=st.booleans())
    def key_used_again(self, data: st.DataObject, same: bool) -> None:
        """A till retries a request that went through (later): it gets the same entry back. A
        different request under that key is refused. Either way nothing moves."""
        service, kwargs, result = data.draw(st.sampled_from(self.retries))
        if not same:
            if service is points_adjust:
                changed = {**kwargs, "reason": kwargs["reason"] + "（改）"}
            else:
                changed = {**kwargs, "amount": (kwargs["amount"] or 0) + 1}
            with pytest.raises(IdempotencyConflict):
                service(**changed, at=self.now)
            return
        again = service(**kwargs, at=self.now)
        if isinstance(result, tuple):
            assert [e.pk for e in again] == [e.pk for e in result]
        else:
            assert again.pk == result.pk

    # the nightly jobs, run when it is time (later: days since the last step)

    @rule(size=chunk, later=later)
    def activate(self, size: int, later: int) -> None:
        self.now += days(later)
        due = [lot for a in self.accounts for lot in a.lots if lot.pending and lot.available_at <= self.now]
        assert lots_activate_due(now=self.now, chunk=size) == len(due)
        for lot in due:
            lot.pending = False

    @rule(size=chunk, later=later)
    def expire(self, size: int, later: int) -> None:
        self.now += days(later)
        expired = 0
        for account in self.accounts:
            for lot in account.lots:
                if lot.remaining > 0 and lot.expires_at is not None and lot.expires_at <= self.now:
                    account.expired += lot.remaining
                    account.posted -= lot.remaining
                    lot.remaining = 0
                    expired += 1
        assert lots_expire_due(now=self.now, chunk=size) == expired

    # after every step

    @invariant()
    def books_match_the_model(self) -> None:
        assert ledger_problems() == {}
        rows = {
            a.member_id: a
            for a in Account.objects.filter(member__in=self.members, point_type=self.point_type)
        }
        lots: dict[int, list[tuple]] = {m.pk: [] for m in self.members}
        fields = ["amount", "remaining", "status", "source", "source_ref", "available_at", "expires_at"]
        in_order = Lot.objects.filter(account__member__in=self.members).order_by("id")
        for member_id, *row in in_order.values_list("account__member_id", *fields):
            lots[member_id].append(tuple(row))
        for m, model in zip(self.members, self.accounts, strict=True):
            account = rows.get(m.pk)
            assert db_figures(account) == model.figures()
            assert (account.balance if account else 0) == model.posted
            assert lots[m.pk] == [lot.row() for lot in model.lots]


@pytest.mark.django_db
def test_random_days_of_a_programme_keep_the_books_right():
    """Whatever members, operators and jobs do, in any order, the ledger agrees with the model."""
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=150,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
