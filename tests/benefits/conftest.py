from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from django.utils import timezone

from benefits.models import Benefit, Redemption, Reward
from benefits.rewards import reward_redeem
from points.models import Account, Source
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


def give_points(member, amount: int, at=None, expires=True, point_type: str = "points"):
    """Spendable points, earned at ``at`` (default 2026-03-01)."""
    at = at or local(2026, 3, 1)
    return points_earn(
        member=member,
        point_type=point_type,
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


def earn_now(member, amount: int, point_type: str = "points"):
    """Spendable points (or growth), earned now: for pages that show what is current."""
    return give_points(member, amount, timezone.now(), point_type=point_type)


def points_of(member) -> int:
    return Account.objects.get(member=member, point_type__code="points").available


def redeem_reward(member, reward: Reward, **kwargs) -> Redemption:
    return reward_redeem(member=member, reward=reward, idempotency_key=f"redeem-{next(_refs)}", **kwargs)


@pytest.fixture
def en(client):
    """Pages in English, so assertions do not depend on the zh-hans catalogue."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def gift(db) -> Reward:
    return Reward.objects.create(name="保温杯", kind=Reward.Kind.PHYSICAL, points_price=500, stock=10)


@pytest.fixture
def orders(member, gift):
    """Three gift orders and one coupon reward for the member (who keeps 500 points)."""
    earn_now(member, 2500)
    coupon_reward = Reward.objects.create(
        name="咖啡券", kind=Reward.Kind.COUPON, points_price=500,
        benefit=Benefit.objects.create(name="咖啡一杯", kind=Benefit.Kind.GIFT),
    )  # fmt: skip
    gifts = [
        redeem_reward(member, gift, ship_to="上海市徐汇区漕溪北路88号 张伟 13812345678") for _ in range(3)
    ]
    redeem_reward(member, coupon_reward)
    return gifts
