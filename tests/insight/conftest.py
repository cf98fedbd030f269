"""A small programme built by hand, whose every figure the tests work out on paper.

Stores A and B; tiers 普通会员 and 银卡 (ladder). Points are worth 0.01 CNY each.

- m3 joined at store A on 10-01 (store channel); m1 joined at A on 11-10 (store); m2 joined
  online on 11-10 (WeChat mini-program, no store).
- p1: m1 at A, 11-10 12:00, paid 100.00 → 100 points.
- p2: m2 online, 11-10 13:00, paid 250.50 → 250 points; refunded 50.50 on 11-11 09:00.
- p3: m3 at B, 11-11 10:00, paid 80.00 → 80 points. m3 moved up to 银卡 at 11:00.
- p4: m1 at A, 11-11 23:30 (still 11-11 in Shanghai; 15:30 UTC), paid 40.00 → 40 points.
- m1 spends 60 points on 11-11 12:00; m2 does something (a behaviour event) on 11-11.
- Store A reports all customers' sales of 11-10: 1,000.00 CNY in 10 orders.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from campaigns.insight.models import StoreSalesDay
from campaigns.insight.rollups import day_rollup, days_rollup
from members.models import Channel, Member
from members.purchases.models import EventType, MemberEvent, Purchase, Refund
from points.models import Source
from points.services import points_earn, points_spend
from tests.factories import MemberFactory, StoreFactory
from tests.tiers.conftest import ladder, local  # noqa: F401  (fixtures shared)
from tiers.models import TierChange

D1, D2 = datetime.date(2026, 11, 10), datetime.date(2026, 11, 11)


def _joined(member: Member, at: datetime.datetime) -> Member:
    Member.objects.filter(pk=member.pk).update(created_at=at)
    member.refresh_from_db()
    return member


def _buy(member, store, channel, at, paid: str, number: str) -> Purchase:
    purchase = Purchase.objects.create(
        source="pos", order_number=number, channel=channel, store=store, member=member,
        occurred_at=at, gross_amount=Decimal(paid), paid_amount=Decimal(paid),
    )  # fmt: skip
    points_earn(
        member=member, point_type="points", amount=int(Decimal(paid)), source=Source.PURCHASE,
        idempotency_key=f"earn-{number}", at=at, available_at=at,
    )  # fmt: skip
    return purchase


@pytest.fixture
def programme(db, ladder):  # noqa: F811
    return build_programme(ladder)


def build_programme(ladder) -> dict:  # noqa: F811
    a = StoreFactory(code="A", name="A店", city="上海")
    b = StoreFactory(code="B", name="B店", city="北京")
    m3 = _joined(
        MemberFactory(registration_store=a, registration_channel=Channel.STORE), local(2026, 10, 1, 9)
    )
    m1 = _joined(
        MemberFactory(registration_store=a, registration_channel=Channel.STORE), local(2026, 11, 10, 9)
    )
    m2 = _joined(MemberFactory(registration_channel=Channel.WECHAT_MINIPROGRAM), local(2026, 11, 10, 10))
    _buy(m1, a, Channel.STORE, local(2026, 11, 10, 12), "100.00", "p1")
    p2 = _buy(m2, None, Channel.WECHAT_MINIPROGRAM, local(2026, 11, 10, 13), "250.50", "p2")
    Refund.objects.create(purchase=p2, source="shop", refund_number="r1", amount=Decimal("50.50"),
                          occurred_at=local(2026, 11, 11, 9))  # fmt: skip
    _buy(m3, b, Channel.STORE, local(2026, 11, 11, 10), "80.00", "p3")
    TierChange.objects.create(
        member=m3, from_tier=None, to_tier=ladder["silver"], earned_tier=ladder["silver"],
        reason=TierChange.Reason.UPGRADE, at=local(2026, 11, 11, 11),
    )  # fmt: skip
    _buy(m1, a, Channel.STORE, local(2026, 11, 11, 23, 30), "40.00", "p4")
    points_spend(
        member=m1, point_type="points", amount=60, idempotency_key="spend-1", at=local(2026, 11, 11, 12)
    )
    signed, _created = EventType.objects.get_or_create(code="sign_in", defaults={"name": "签到"})
    MemberEvent.objects.create(member=m2, event_type=signed, key="e1", occurred_at=local(2026, 11, 11, 8))
    StoreSalesDay.objects.create(store=a, day=D1, orders=10, sales=Decimal("1000.00"))
    return {"a": a, "b": b, "m1": m1, "m2": m2, "m3": m3, "ladder": ladder}


def roll_up() -> None:
    """The days something happened (the others roll up to no rows)."""
    day_rollup(datetime.date(2026, 10, 1))
    for _day in days_rollup(D1, D2):
        pass
