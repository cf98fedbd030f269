from __future__ import annotations

import datetime
import itertools
from decimal import Decimal

from campaigns.earning.facts import purchase_record_and_earn, refund_record_and_earn
from members.models import Channel, Member
from members.oneid.models import MemberMerge
from members.oneid.services import merge_approve, merge_request
from points.models import Account
from tests.api.conftest import partner_a, partner_b  # noqa: F401  (fixtures shared)
from tests.benefits.conftest import twenty_off  # noqa: F401  (fixtures shared)
from tests.tiers.conftest import ladder, local  # noqa: F401  (fixtures shared)

_numbers = itertools.count(1)
NOW = local(2026, 11, 11, 20, 0)


def buy(member: Member, paid: str, *, at: datetime.datetime = NOW, store=None):
    """A till's purchase, recorded and earned (1 point and 1 growth per CNY, 7 days pending)."""
    return purchase_record_and_earn(
        member=member,
        source="pos",
        order_number=f"R{next(_numbers):06d}",
        channel=Channel.STORE,
        store=store,
        occurred_at=at,
        gross_amount=Decimal(paid),
        paid_amount=Decimal(paid),
        now=at,
        at=at,
    ).fact


def refund(purchase, amount: str, *, at: datetime.datetime):
    return refund_record_and_earn(
        purchase=purchase,
        source="pos",
        refund_number=f"T{next(_numbers):06d}",
        amount=Decimal(amount),
        occurred_at=at,
        now=at,
        at=at,
    ).fact


def balance(member: Member, point_type: str = "points") -> tuple[int, int]:
    """(available, pending) of the member's account of that type."""
    account = Account.objects.filter(member=member, point_type__code=point_type).first()
    return (account.available, account.pending) if account else (0, 0)


def merged(survivor: Member, absorbed: Member, *, by, approver=None, at=NOW) -> MemberMerge:
    """Merge, approved by ``approver`` when the policy asks for it."""
    (record,) = merge_request(
        survivor=survivor, absorbed=[absorbed], reason="同一人：客服核实", actor=by, at=at
    )
    if record.status == MemberMerge.Status.PENDING:
        assert approver is not None, record.approval_reasons
        record = merge_approve(merge=record, actor=approver)
    return record
