from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from benefits.models import Benefit, Reward
from points.models import Source
from points.services import points_earn
from tests.tiers.conftest import ladder, local, set_policy  # noqa: F401  (fixtures shared with tiers)

_refs = itertools.count()


@pytest.fixture
def free_shipping(db) -> Benefit:
    return Benefit.objects.create(name="包邮券", kind=Benefit.Kind.FREE_SHIPPING, valid_days=30)


@pytest.fixture
def twenty_off(db) -> Benefit:
    return Benefit.objects.create(
        name="满100减20",
        kind=Benefit.Kind.AMOUNT_OFF,
        value=Decimal("20"),
        min_spend=Decimal("100"),
        valid_days=60,
    )


@pytest.fixture
def tote(db) -> Reward:
    return Reward.objects.create(name="品牌帆布袋", kind=Reward.Kind.PHYSICAL, points_price=3000, stock=5)


@pytest.fixture
def voucher(twenty_off) -> Reward:
    return Reward.objects.create(
        name="满100减20券", kind=Reward.Kind.COUPON, points_price=2000, benefit=twenty_off
    )


def give_points(member, amount: int, at=None, expires=True):
    """Spendable points, earned at ``at`` (default 2026-03-01)."""
    at = at or local(2026, 3, 1)
    return points_earn(
        member=member,
        point_type="points",
        amount=amount,
        source=Source.PURCHASE,
        source_ref=f"order-{next(_refs)}",
        idempotency_key=f"earn-{next(_refs)}",
        at=at,
        available_at=at,
    )


@pytest.fixture
def points_type_rolling(db):
    """积分 expiring 12 months after they were earned."""
    from points.models import PointType

    PointType.objects.filter(code="points").update(expiry_policy="rolling", expiry_period=12)
