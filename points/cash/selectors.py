"""Reads of points as cash: the rule, what a member may pay with now (the quote), holds in a
partner's scope, and the finance report of points used as cash by store and day."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from members.models import Member, Store
from members.partners.models import Partner
from members.purchases.baskets import Basket
from points.cash.models import CashRule, Hold, HoldRefund
from points.cash.rules import Quote, cash_quote
from points.models import Account, Lot, PointType


def cash_rule_of(point_type: PointType) -> tuple[CashRule | None, set[int]]:
    """The point type's rule (None: points of this type never pay) and its stores (empty: all)."""
    rule = CashRule.objects.filter(point_type=point_type).first()
    if rule is None:
        return None, set()
    rule.point_type = point_type
    return rule, set(rule.stores.values_list("pk", flat=True))


def spendable_points(account: Account | None, at: datetime.datetime) -> int:
    """Points ``points_spend`` could take now: available lots not past their expiry (the cached
    ``available`` may still count lots the nightly job has not expired yet)."""
    if account is None or account.pk is None:
        return 0
    total = (
        Lot.objects.filter(account=account, status=Lot.Status.AVAILABLE, remaining__gt=0)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at))
        .aggregate(total=Sum("remaining"))["total"]
    )
    return max((total or 0) - account.debt, 0)


def member_quote(
    member: Member, point_type: PointType, basket: Basket, *, at: datetime.datetime | None = None
) -> Quote:
    """What ``basket`` may take of the member's points now. Nothing is held or written."""
    at = at or timezone.now()
    rule, store_ids = cash_rule_of(point_type)
    account = Account.objects.filter(member=member, point_type=point_type).first()
    return cash_quote(
        rule,
        point_type,
        basket,
        available=spendable_points(account, at),
        store_ids=store_ids,
        member_active=member.status == Member.Status.ACTIVE,
    )


def partner_holds(partner: Partner) -> QuerySet[Hold]:
    """The holds a partner took: the only ones it may read, release or pay with."""
    return Hold.objects.filter(partner=partner)


def holds_given_back(holds: list[Hold]) -> dict[int, int]:
    """{hold id: points refunds gave back}."""
    rows = (
        HoldRefund.objects.filter(hold__in=holds)
        .values("hold_id")
        .annotate(points=Sum("points"))
        .values_list("hold_id", "points")
    )
    return dict(rows)


# --- the finance report ---------------------------------------------------------------------------


@dataclass
class CashDay:
    """Points used as cash at one store on one (local) day: captured with purchases, and given
    back by refunds of such purchases (dated by the refund). A store of None: online, no store."""

    day: datetime.date
    store: Store | None
    payments: int = 0
    points: int = 0
    value: Decimal = Decimal("0.00")
    refunds: int = 0
    points_back: int = 0
    value_back: Decimal = Decimal("0.00")

    @property
    def net_points(self) -> int:
        return self.points - self.points_back

    @property
    def net_value(self) -> Decimal:
        return self.value - self.value_back


def cash_by_store_and_day(
    first: datetime.date, last: datetime.date, *, store: Store | None = None
) -> list[CashDay]:
    """Days ``first``..``last`` (local), newest first, then by store: two grouped queries."""
    tz = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.datetime.combine(first, datetime.time.min), tz)
    end = timezone.make_aware(
        datetime.datetime.combine(last + datetime.timedelta(days=1), datetime.time.min), tz
    )
    captured = Hold.objects.filter(status=Hold.Status.CAPTURED, captured_at__gte=start, captured_at__lt=end)
    returned = HoldRefund.objects.filter(created_at__gte=start, created_at__lt=end)
    if store is not None:
        captured = captured.filter(store=store)
        returned = returned.filter(hold__store=store)
    days: dict[tuple[datetime.date, int | None], CashDay] = {}
    pay_rows: list[dict[str, Any]] = list(
        captured.annotate(day=TruncDate("captured_at", tzinfo=tz))
        .values("day", "store_id")
        .annotate(n=Count("id"), points=Sum("points"), value=Sum("value"))
        .order_by()
    )
    back_rows: list[dict[str, Any]] = list(
        returned.annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day", "hold__store_id")
        .annotate(n=Count("id", filter=Q(points__gt=0)), points=Sum("points"), value=Sum("value"))
        .order_by()
    )
    store_ids = {r["store_id"] for r in pay_rows} | {r["hold__store_id"] for r in back_rows}
    known = Store.objects.in_bulk([pk for pk in store_ids if pk is not None])

    def row(day: datetime.date, store_id: int | None) -> CashDay:
        key = (day, store_id)
        if key not in days:
            days[key] = CashDay(day, known.get(store_id) if store_id else None)
        return days[key]

    for r in pay_rows:
        each = row(r["day"], r["store_id"])
        each.payments, each.points, each.value = r["n"], r["points"] or 0, r["value"] or Decimal("0.00")
    for r in back_rows:
        each = row(r["day"], r["hold__store_id"])
        each.refunds, each.points_back = r["n"], r["points"] or 0
        each.value_back = r["value"] or Decimal("0.00")
    return sorted(days.values(), key=lambda d: (-d.day.toordinal(), d.store.code if d.store else ""))
