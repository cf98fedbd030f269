"""Velocity rules in the nightly scan, counted per store, partner, phone range, device and member
(issue 21): the members whose facts made a count go above its threshold in one hour or day are
caught, with the group's count as evidence; a group at the threshold catches nobody."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from campaigns.earning.facts import purchase_record_and_earn, refund_record_and_earn
from campaigns.models import RiskRule
from campaigns.risk.detectors import find
from campaigns.risk.scan import day_span
from members.models import Channel, Member
from members.referrals.models import MemberDevice
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db

DAY = datetime.date(2026, 11, 20)


def at(hour: float) -> datetime.datetime:
    return day_span(DAY)[0] + datetime.timedelta(hours=hour)


def buy(member: Member, store, n: int, hour: float, source: str = "pos", paid: str = "100.00"):
    return purchase_record_and_earn(
        member=member, source=source, order_number=f"{source}-{member.pk}-{n}", channel=Channel.STORE,
        store=store, occurred_at=at(hour), gross_amount=Decimal(paid), paid_amount=Decimal(paid), at=at(hour),
    ).fact  # fmt: skip


def velocity(measure: str, scope: str, threshold: int, window: str = "hour") -> RiskRule:
    return RiskRule.objects.create(
        name=f"{measure}/{scope}", kind="velocity", measure=measure, scope=scope, window=window,
        threshold=threshold,
    )  # fmt: skip


def caught(rule: RiskRule) -> dict[int, dict]:
    return {f.member_id: f.summary for f in find(rule, day_span(DAY))}


def test_purchases_per_store_per_hour():
    busy, quiet = StoreFactory(code="S1"), StoreFactory(code="S2")
    members = [MemberFactory() for _ in range(7)]
    for n, member in enumerate(members[:4]):  # four at the busy store between 10:00 and 10:40
        buy(member, busy, 0, 10 + n / 6)
    for n, member in enumerate(members[4:]):  # three at the quiet one: at the threshold
        buy(member, quiet, 0, 10 + n / 6)
    buy(members[0], busy, 1, 11.5)  # another hour
    found = caught(velocity("purchases", "store", 3))
    assert set(found) == {m.pk for m in members[:4]}
    assert found[members[0].pk]["count"] == 4 and found[members[0].pk]["value"] == str(busy.pk)


def test_purchases_per_partner_per_day_count_what_each_partner_sent():
    store = StoreFactory(code="S1")
    members = [MemberFactory() for _ in range(3)]
    for n, member in enumerate(members):
        buy(member, store, 0, 9 + n, source="api:pos-a")
        buy(member, store, 1, 9 + n, source="api:pos-b")
    buy(members[0], store, 2, 20, source="api:pos-a")
    found = caught(velocity("purchases", "partner", 3, window="day"))
    assert set(found) == {m.pk for m in members} and {f["value"] for f in found.values()} == {"api:pos-a"}


def test_enrolments_per_phone_range_and_per_device():
    same_range = [MemberFactory(mobile=f"+86170123400{n:02d}") for n in range(3)]
    other = MemberFactory(mobile="+8613912345678")
    for member in [*same_range, other]:
        Member.objects.filter(pk=member.pk).update(created_at=at(21))
        MemberDevice.objects.create(member=member, device_id="phone-1")
    by_range = caught(velocity("enrolments", "phone_prefix", 2, window="day"))
    assert set(by_range) == {m.pk for m in same_range}
    assert by_range[same_range[0].pk]["value"] == "+861701234****"  # the range, not the number
    assert set(caught(velocity("enrolments", "device", 3))) == {m.pk for m in [*same_range, other]}


def test_points_and_refunds_per_member():
    store = StoreFactory(code="S1")
    big, small = MemberFactory(), MemberFactory()
    purchases = [buy(big, store, n, 10 + n / 10, paid="400.00") for n in range(3)]
    buy(small, store, 0, 10, paid="900.00")
    for n, purchase in enumerate(purchases):
        refund_record_and_earn(
            purchase=purchase, source="pos", refund_number=f"R{n}", amount=Decimal("400.00"),
            occurred_at=at(12 + n / 10), at=at(12 + n / 10),
        )  # fmt: skip
    assert set(caught(velocity("earned_points", "member", 1000))) == {big.pk}  # 1,200 > 1,000 > 900
    assert set(caught(velocity("refunds", "member", 2))) == {big.pk}
