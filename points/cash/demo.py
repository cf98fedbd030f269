"""Demo points as cash (``CashConfig.demo_seed``): the rule switched on, and over the last week a
few members paid part of a purchase at a store's till with their 积分 (the finance report and
the member pages show them); one till walked away from its hold, which the job released."""

from __future__ import annotations

import datetime
from decimal import Decimal

from members.demo import DemoRun
from members.models import Channel, Store
from members.purchases.baskets import Basket
from points.cash.models import CashRule
from points.cash.selectors import member_quote
from points.cash.services import hold_create, holds_release_expired, purchase_record_with_hold
from points.models import Account, PointType

PAYERS = 12


def seed(run: DemoRun) -> str:
    rng = run.rng("cash")
    points = PointType.objects.get(code="points")
    CashRule.objects.filter(point_type=points).update(active=True)
    stores = list(Store.objects.filter(is_active=True).exclude(city="").order_by("code"))
    accounts = list(
        Account.objects.filter(member__in=run.members, point_type=points, available__gte=2000)
        .select_related("member")
        .order_by("pk")[:PAYERS]
    )
    if not stores or not accounts:
        return "points as cash: the rule is on (no member has enough points to pay with yet)"
    paid = 0
    for i, account in enumerate(accounts):
        at = run.now - datetime.timedelta(days=rng.randint(0, 6), hours=rng.randint(1, 9))
        store = rng.choice(stores)
        basket = Basket(Decimal(rng.randint(120, 600)), channel=Channel.STORE, store_id=store.pk)
        quote = member_quote(account.member, points, basket, at=at)
        if quote.max_points < quote.step_points or not quote.step_points:
            continue
        steps = rng.randint(1, quote.max_points // quote.step_points)
        hold = hold_create(
            member=account.member, points=steps * quote.step_points, basket=basket, point_type=points,
            idempotency_key=f"demo:{run.seed}:{run.existing}:{i}", at=at,
        )  # fmt: skip
        if i == 0:
            continue  # the customer paid otherwise: the job releases the hold
        purchase_record_with_hold(
            hold=hold, member=account.member, source="pos", order_number=f"DEMO-CASH-{run.existing}-{i}",
            channel=Channel.STORE, store=store, occurred_at=at, gross_amount=basket.amount,
            paid_amount=basket.amount, now=at + datetime.timedelta(minutes=2),
        )  # fmt: skip
        paid += 1
    released = holds_release_expired(now=run.now)
    return f"points as cash: {paid} purchases paid partly with points, {released} hold released"
