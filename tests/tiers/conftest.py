from __future__ import annotations

import datetime
import itertools

import pytest
from django.utils import timezone

from members.models import Member
from points.models import Source
from points.services import points_earn
from tiers.models import Tier, TierPolicy
from tiers.services import tier_refresh

_refs = itertools.count()


def local(*args: int) -> datetime.datetime:
    """A moment in the programme's time zone (Asia/Shanghai)."""
    return timezone.make_aware(datetime.datetime(*args))


@pytest.fixture
def ladder(db) -> dict[str, Tier]:
    """普通会员 (from the migration), 银卡 1,000, 金卡 5,000, 钻石 20,000 growth."""
    tiers = {"member": Tier.objects.get(rank=0)}
    for rank, (code, name, threshold, multiplier) in enumerate(
        [("silver", "银卡", 1000, "1.2"), ("gold", "金卡", 5000, "1.5"), ("diamond", "钻石", 20000, "2")],
        start=1,
    ):
        tiers[code] = Tier.objects.create(
            rank=rank, code=code, name=name, threshold=threshold, earn_multiplier=multiplier
        )
    return tiers


class Clock:
    """The server's time (``timezone.now``), set and moved by a test."""

    def __init__(self, now: datetime.datetime) -> None:
        self.now = now

    def move(self, **delta) -> None:
        self.now += datetime.timedelta(**delta)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """1 Feb 2031, 10:00 local: a year of 365 days starts (2032's 29 February is after it)."""
    moment = Clock(local(2031, 2, 1, 10, 0))
    monkeypatch.setattr(timezone, "now", lambda: moment.now)
    return moment


@pytest.fixture
def set_policy(db):
    def set_(**fields) -> TierPolicy:
        policy = TierPolicy.current()
        for name, value in fields.items():
            setattr(policy, name, value)
        policy.save()
        return policy

    return set_


def registered(member: Member, at: datetime.datetime) -> Member:
    Member.objects.filter(pk=member.pk).update(created_at=at)
    member.refresh_from_db()
    return member


def grow(member: Member, amount: int, at: datetime.datetime, *, refresh: bool = True):
    """Growth value earned at ``at`` (as the earning pipeline posts it), then the upgrade check."""
    points_earn(
        member=member,
        point_type="growth",
        amount=amount,
        source=Source.PURCHASE,
        source_ref=f"order-{next(_refs)}",
        idempotency_key=f"growth-{next(_refs)}",
        at=at,
        available_at=at,
    )
    return tier_refresh(member, at=at) if refresh else None
