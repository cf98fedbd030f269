"""Points as cash: the rule switched on, members with lots of known expiry dates, and readers of
balances and lots for hand-computed checks.

积分 expire 12 months after they are earned here (a rolling expiry), so each lot's date is known.
"""

from __future__ import annotations

import datetime
import itertools
from decimal import Decimal

import pytest
from django.utils import timezone

from members.models import Member, Store
from members.purchases.baskets import Basket, BasketLine
from points.cash.models import CashRule
from points.models import Account, Entry, Lot, PointType, Source
from points.services import points_earn

_refs = itertools.count()


def local(*args: int) -> datetime.datetime:
    """A moment in the programme's time zone (Asia/Shanghai)."""
    return timezone.make_aware(datetime.datetime(*args))


T0 = local(2026, 3, 5, 12)  # when the till holds, in the services' tests


@pytest.fixture
def rule(db) -> CashRule:
    """积分 pay at any till: 100 = 1 CNY, whole yuan, at most half of an order less its 烟酒
    lines, from a balance of 500, holds of 15 minutes; 积分 expire 12 months after earning."""
    PointType.objects.filter(code="points").update(expiry_policy="rolling", expiry_period=12)
    cash_rule = CashRule.objects.get(point_type__code="points")  # a new database's (inactive)
    cash_rule.active = True
    cash_rule.min_balance = 500
    cash_rule.excluded_categories = ["烟酒"]
    cash_rule.save()
    return cash_rule


def earn(member: Member, amount: int, at: datetime.datetime) -> Entry:
    """Spendable points earned at ``at`` (expiring 12 months later with ``rule``)."""
    n = next(_refs)
    return points_earn(
        member=member, point_type="points", amount=amount, source=Source.PURCHASE, source_ref=f"order-{n}",
        idempotency_key=f"earn-{n}", at=at, available_at=at,
    )  # fmt: skip


def account(member: Member) -> Account:
    return Account.objects.get(member=member, point_type__code="points")


def open_lots(member: Member) -> dict[datetime.datetime | None, int]:
    """{expiry: points left} of the member's available 积分 lots with points left (pending ones,
    a purchase's still in its return window, are left out)."""
    lots: dict[datetime.datetime | None, int] = {}
    for expires, remaining in Lot.objects.filter(
        account__member=member,
        account__point_type__code="points",
        remaining__gt=0,
        status=Lot.Status.AVAILABLE,
    ).values_list("expires_at", "remaining"):
        lots[expires] = lots.get(expires, 0) + remaining
    return lots


def basket(amount: str = "188.00", *, store: Store | None = None, channel: str = "store", lines=()) -> Basket:
    return Basket(
        amount=Decimal(amount),
        channel=channel,
        store_id=store.pk if store else None,
        lines=tuple(BasketLine(sku, Decimal(value), category) for sku, category, value in lines),
    )


#: 50 CNY of 烟酒 (cannot be paid with points) and 138 CNY of food
LINES = [("W1", "烟酒", "50.00"), ("C1", "食品", "138.00")]
