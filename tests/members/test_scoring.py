"""RFM and lifecycle scoring of a dozen members whose scores are worked out on paper.

Ten members bought in the last year (the RFM window); quintiles of ten put two members in each
fifth, so each score below follows from sorting the column by hand:

member  last bought  orders  net sales   R  F  M   segment (quintiles: 4 or 5 is high)
m0        1 day ago    8      1000       5  5  5   重要价值 important value
m1        2           1       900       5  1  5   重要发展 important develop
m2       10           5       100       4  5  1   一般价值 general value
m3       20           1       200*      4  1  1   一般发展 general develop
m4       40           2       800       3  3  4   重要挽留 important win back
m5       60           1       300       3  1  2   一般挽留 general win back
m6      100           3       700       2  4  4   重要保持 important keep
m7      150           1       400       2  1  2   一般挽留 general win back
m8      200           4       500       1  4  3   一般保持 general keep
m9      300           2       600       1  3  3   一般挽留 general win back
(* 300 paid, 100 refunded.) F cut points: 1, 1, 2, 4; M: 200, 400, 600, 800.
m10 bought 400 days ago (outside the window), m11 joined 5 days ago and bought nothing.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from members.models import Member
from members.purchases.models import Purchase
from members.scoring.models import MemberScore, ScoringSettings
from members.scoring.services import members_score
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

NOW = timezone.make_aware(datetime.datetime(2026, 11, 30, 12))
#: (days since the last purchase, orders, net sales)
BUYERS = [(1, 8, 1000), (2, 1, 900), (10, 5, 100), (20, 1, 200), (40, 2, 800),
          (60, 1, 300), (100, 3, 700), (150, 1, 400), (200, 4, 500), (300, 2, 600)]  # fmt: skip


def _member(days_ago_joined: int) -> Member:
    member = MemberFactory()
    Member.objects.filter(pk=member.pk).update(created_at=NOW - datetime.timedelta(days=days_ago_joined))
    return member


def _buy(member: Member, days_ago: int, amount: Decimal, number: str, refunded: Decimal = Decimal(0)) -> None:
    Purchase.objects.create(
        source="pos", order_number=number, channel="store", member=member,
        occurred_at=NOW - datetime.timedelta(days=days_ago), gross_amount=amount, paid_amount=amount,
        refunded_amount=refunded,
    )  # fmt: skip


@pytest.fixture
def members(db):
    people = []
    for index, (last, orders, sales) in enumerate(BUYERS):
        member = _member(400)
        share = (Decimal(sales) / orders).quantize(Decimal("0.01"))
        for order in range(orders):  # the last purchase, then older ones a day apart
            amount = share if order else Decimal(sales) - share * (orders - 1)  # to the cent
            if index == 3:
                amount, refunded = Decimal(300), Decimal(100)
            else:
                refunded = Decimal(0)
            _buy(member, last + order, amount, f"m{index}-{order}", refunded)
        people.append(member)
    m10 = _member(500)
    _buy(m10, 400, Decimal(50), "m10-0")
    people.append(m10)
    people.append(_member(5))
    return people


def scores(members: list[Member]) -> list[tuple]:
    by_member = {s.member_id: s for s in MemberScore.objects.all()}
    return [
        (by_member[m.pk].r, by_member[m.pk].f, by_member[m.pk].m, by_member[m.pk].segment) for m in members
    ]


def test_quintile_scores_and_segments(members):
    run = members_score(now=NOW)
    assert run.members == 12
    assert scores(members) == [
        (5, 5, 5, "important_value"),
        (5, 1, 5, "important_develop"),
        (4, 5, 1, "general_value"),
        (4, 1, 1, "general_develop"),
        (3, 3, 4, "important_win_back"),
        (3, 1, 2, "general_win_back"),
        (2, 4, 4, "important_keep"),
        (2, 1, 2, "general_win_back"),
        (1, 4, 3, "general_keep"),
        (1, 3, 3, "general_win_back"),
        (0, 0, 0, "none"),
        (0, 0, 0, "none"),
    ]
    m3 = MemberScore.objects.get(member=members[3])
    assert (m3.frequency, m3.monetary) == (1, Decimal("200.00"))
    stages = [MemberScore.objects.get(member=m).stage for m in members]
    # active: bought within 90 days; dormant: within 180; lost after, or never (m10 outside the
    # look-back); new: joined within 30 days
    assert stages == ["active"] * 6 + ["dormant", "dormant", "lost", "lost", "lost", "new"]


def test_thresholds_and_the_moves_between_runs(members):
    members_score(now=NOW)
    second = members_score(now=NOW)
    assert {(c.previous_segment, c.segment) for c in second.counts.all()} == {
        (c.segment, c.segment) for c in second.counts.all()
    }  # nothing moved
    settings = ScoringSettings.current()
    settings.method, settings.recent_days, settings.frequent_orders = "thresholds", 30, 2
    settings.monetary_amount = Decimal(500)
    settings.save()
    third = members_score(now=NOW)
    assert [segment for *_scores, segment in scores(members)] == [
        "important_value", "important_develop", "general_value", "general_develop", "important_keep",
        "general_win_back", "important_keep", "general_win_back", "important_keep", "important_keep",
        "none", "none",
    ]  # fmt: skip
    moved = {
        (c.previous_segment, c.segment): c.members
        for c in third.counts.all()
        if c.previous_segment != c.segment
    }
    assert moved == {
        ("important_win_back", "important_keep"): 1,  # m4
        ("general_keep", "important_keep"): 1,  # m8
        ("general_win_back", "important_keep"): 1,  # m9
    }
    assert sum(c.sales for c in third.counts.filter(segment="important_keep")) == Decimal(2600)
