from __future__ import annotations

import datetime
import itertools

import pytest
from django.utils import timezone

from members.models import Member
from points.households.models import Household
from points.households.services import household_create, household_join
from points.models import Account, Entry, Lot, Source
from points.services import points_earn
from tests.factories import MemberFactory

_refs = itertools.count()


def local(*args: int) -> datetime.datetime:
    """A moment in the programme's time zone (Asia/Shanghai)."""
    return timezone.make_aware(datetime.datetime(*args))


T_OLD = local(2025, 6, 1, 10)  # 积分 of 2025: cleared out at the end of 2026
T0 = local(2026, 3, 1, 10)  # 积分 of 2026: cleared out at the end of 2027
NOW = local(2026, 3, 5, 12)
EXP_2026 = local(2027, 1, 1)  # the clear-out of 2025's points (first moment they are gone)
EXP_2027 = local(2028, 1, 1)


def earn(member: Member, amount: int, at: datetime.datetime = T0) -> Entry:
    """Spendable points earned at ``at``, with the 积分 calendar clear-out."""
    n = next(_refs)
    return points_earn(
        member=member, point_type="points", amount=amount, source=Source.PURCHASE, source_ref=f"order-{n}",
        idempotency_key=f"earn-{n}", at=at, available_at=at,
    )  # fmt: skip


def balance(member: Member) -> int:
    account = Account.objects.filter(member=member, point_type__code="points").first()
    return account.available if account else 0


def open_lots(member: Member) -> dict[datetime.datetime | None, int]:
    """{expiry: points left} of the member's lots with points left."""
    lots: dict[datetime.datetime | None, int] = {}
    for expires, remaining in Lot.objects.filter(
        account__member=member, account__point_type__code="points", remaining__gt=0
    ).values_list("expires_at", "remaining"):
        lots[expires] = lots.get(expires, 0) + remaining
    return lots


@pytest.fixture
def family(db):
    """张家: head 张父, then 张母 and 张子 joined in that order; every member may spend the pool."""
    head = MemberFactory(name="张父")
    mother = MemberFactory(name="张母")
    son = MemberFactory(name="张子")
    household = household_create(
        name="张家", head=head, pool_spenders=Household.Spenders.ALL, at=T0 - datetime.timedelta(days=30)
    )
    household_join(household=household, member=mother, at=T0 - datetime.timedelta(days=20))
    household_join(household=household, member=son, at=T0 - datetime.timedelta(days=10))
    return household, head, mother, son
