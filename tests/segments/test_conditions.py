"""Segment conditions on a programme of five members, each answer worked out by hand.

Now is 2026-12-20 12:00 (Asia/Shanghai). The programme's points clear out on 31 Dec of the year
after earning (expired from 1 Jan Y+2), so points of 2025 expire on 2027-01-01: in 12 days.

member  joined    store  channel  city  sex  birthday  consent  tier        RFM (stage)     tags
a       400 d     S1     store    上海  F    Dec       sms      Gold        重要价值        VIP
b        10 d     S2     wechat   北京  M    Jan       —        entry (no row)  —           —
c       200 d     S1     store    上海  F    —         wechat   Silver      重要挽留        —
d       400 d     S2     tmall    北京  F    Dec       sms      entry (row) 一般保持        VIP
e       frozen; otherwise a's twin: in no segment

purchases (paid − refunded): a 300 (10 d ago), 200 (40 d); c 1000 − 400 (120 d);
d 50 each 5, 15 and 25 d ago; b none.
points (all spendable): a 1000 earned 2025-06-01 (expire in 12 d) + 500 on 2026-12-10;
c 2000 on 2026-06-01 (expire 2028); d 300 on 2025-03-01 (expire in 12 d).
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from campaigns.segments.models import Condition, Field, Logic, Operator, Segment, SegmentMember, TagRule
from campaigns.segments.selectors import conditions_members, segment_members
from campaigns.segments.services import segment_count, tag_rule_apply, tag_rules_apply
from members.models import Member
from members.purchases.models import Purchase
from members.scoring.models import MemberScore
from points.models import PointType, Source
from points.services import points_earn
from tests.factories import MemberFactory, StoreFactory, TagFactory
from tiers.models import MemberTier, Tier

pytestmark = pytest.mark.django_db

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime.datetime(2026, 12, 20, 12, tzinfo=TZ)


def ago(days: int) -> datetime.datetime:
    return NOW - datetime.timedelta(days=days)


@pytest.fixture
def programme(db):
    s1, s2 = StoreFactory(code="S1"), StoreFactory(code="S2")
    vip = TagFactory(name="VIP")
    entry = Tier.objects.get(rank=0)
    silver = Tier.objects.create(rank=1, code="silver", name="银卡", threshold=1000)
    gold = Tier.objects.create(rank=2, code="gold", name="金卡", threshold=5000)
    points = PointType.objects.get(code="points")

    def member(joined, store, channel, city, gender, birthday, consent, tier, rfm, tags, status="active"):
        m = MemberFactory(registration_store=store, registration_channel=channel, city=city, gender=gender)
        Member.objects.filter(pk=m.pk).update(
            created_at=ago(joined),
            birthday=datetime.date(1990, birthday, 5) if birthday else None,
            sms_consent=consent == "sms",
            wechat_consent=consent == "wechat",
            status=status,
        )
        if tier:
            MemberTier.objects.create(
                member=m,
                tier=tier,
                earned_tier=tier,
                since=ago(30),
                period_start=ago(30),
                valid_until=ago(-300),
            )
        if rfm:
            MemberScore.objects.create(member=m, segment=rfm, stage="active")
        m.tags.set(tags)
        return m

    def buy(m, days, paid, refunded=0):
        Purchase.objects.create(
            source="pos", order_number=f"{m.pk}-{days}", channel="store", member=m, occurred_at=ago(days),
            gross_amount=paid, paid_amount=paid, refunded_amount=refunded,
        )  # fmt: skip

    def earn(m, amount, at):
        at = datetime.datetime(*at, 12, tzinfo=TZ)
        points_earn(
            member=m, point_type=points, amount=amount, source=Source.OPERATOR,
            idempotency_key=f"t-{m.pk}-{at:%Y%m%d}", at=at, available_at=at,
        )  # fmt: skip

    a = member(400, s1, "store", "上海", "female", 12, "sms", gold, "important_value", [vip])
    b = member(10, s2, "wechat_mp", "北京", "male", 1, "", None, None, [])
    c = member(200, s1, "store", "上海", "female", None, "wechat", silver, "important_win_back", [])
    d = member(400, s2, "tmall", "北京", "female", 12, "sms", entry, "general_keep", [vip])
    e = member(400, s1, "store", "上海", "female", 12, "sms", gold, "important_value", [vip], status="frozen")
    for m in (a, e):
        buy(m, 10, 300)
        buy(m, 40, 200)
        earn(m, 1000, (2025, 6, 1))
        earn(m, 500, (2026, 12, 10))
    buy(c, 120, 1000, 400)
    for days in (5, 15, 25):
        buy(d, days, 50)
    earn(c, 2000, (2026, 6, 1))
    earn(d, 300, (2025, 3, 1))
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "S1": s1, "vip": vip, "entry": entry, "silver": silver,
            "gold": gold}  # fmt: skip


def names(programme, members) -> str:
    by_pk = {m.pk: name for name, m in programme.items() if isinstance(m, Member)}
    return "".join(sorted(by_pk[m.pk] for m in members))


def who(programme, field, operator, **value) -> str:
    condition = Condition(field=field, operator=operator, **value)
    return names(
        programme, conditions_members([condition], groups_logic="all", conditions_logic="all", now=NOW)
    )


IS, NOT, GTE, LTE = Operator.IS, Operator.IS_NOT, Operator.AT_LEAST, Operator.AT_MOST


def test_profile_and_programme_fields(programme):
    p = programme
    assert who(p, Field.TIER, IS, tier=p["gold"]) == "a"
    assert who(p, Field.TIER, IS, tier=p["entry"]) == "bd"  # b never moved; d came back down
    assert who(p, Field.TIER, NOT, tier=p["entry"]) == "ac"
    assert who(p, Field.RFM, IS, choice="important_win_back") == "c"
    assert who(p, Field.RFM, NOT, choice="important_value") == "bcd"  # b is not scored yet
    assert who(p, Field.TAG, IS, tag=p["vip"]) == "ad"
    assert who(p, Field.TAG, NOT, tag=p["vip"]) == "bc"
    assert who(p, Field.BIRTHDAY, IS, choice="this") == "ad"
    assert who(p, Field.BIRTHDAY, IS, choice="next") == "b"  # January, across the year's end
    assert who(p, Field.BIRTHDAY, NOT, choice="12") == "bc"  # c gave no birthday
    assert who(p, Field.STORE, IS, store=p["S1"]) == "ac"
    assert who(p, Field.STORE, NOT, store=p["S1"]) == "bd"
    assert who(p, Field.CHANNEL, IS, choice="store") == "ac"
    assert who(p, Field.JOINED, GTE, days=100) == "acd"
    assert who(p, Field.JOINED, LTE, days=30) == "b"
    assert who(p, Field.CITY, IS, text=" 上海 ") == "ac"
    assert who(p, Field.CONSENT, IS, choice="sms") == "ad"
    assert who(p, Field.CONSENT, NOT, choice="sms") == "bc"
    assert who(p, Field.GENDER, IS, choice="female") == "acd"


def test_purchase_and_points_fields(programme):
    p = programme
    # spend in 30 days: a 300, b 0, c 0, d 150
    assert who(p, Field.SPEND, GTE, number=Decimal(100), days=30) == "ad"
    assert who(p, Field.SPEND, LTE, number=Decimal(200), days=30) == "bcd"  # no purchase is 0
    # in 365 days: a 500, c 1000 − 400 refunded = 600, d 150
    assert who(p, Field.SPEND, GTE, number=Decimal(500), days=365) == "ac"
    assert who(p, Field.ORDERS, GTE, number=Decimal(2), days=30) == "d"
    assert who(p, Field.ORDERS, LTE, number=Decimal(1), days=30) == "abc"
    assert who(p, Field.SILENT, GTE, days=60) == "c"  # b never bought: no "days since"
    assert who(p, Field.SILENT, LTE, days=20) == "ad"
    # available: a 1500, c 2000, d 300
    assert who(p, Field.AVAILABLE, GTE, number=Decimal(1000)) == "ac"
    assert who(p, Field.AVAILABLE, LTE, number=Decimal(400)) == "bd"
    # expiring on 2027-01-01, in 12 days: a 1000, d 300
    assert who(p, Field.EXPIRING, GTE, number=Decimal(500), days=30) == "a"
    assert who(p, Field.EXPIRING, GTE, number=Decimal(1), days=30) == "ad"
    assert who(p, Field.EXPIRING, GTE, number=Decimal(1), days=5) == ""
    assert who(p, Field.EXPIRING, LTE, number=Decimal(500), days=30) == "bcd"
    # earned in the last 30 days: a 500 on 12-10
    assert who(p, Field.EARNED, GTE, number=Decimal(100), days=30) == "a"


def test_groups_and_logic(programme):
    p = programme
    segment = Segment.objects.create(name="沉默高价值", groups_logic=Logic.ALL, conditions_logic=Logic.ANY)
    Condition.objects.create(segment=segment, group=1, field=Field.TAG, operator=IS, tag=p["vip"])  # a d
    Condition.objects.create(
        segment=segment, group=1, field=Field.RFM, operator=IS, choice="important_win_back"
    )
    Condition.objects.create(segment=segment, group=2, field=Field.CHANNEL, operator=IS, choice="tmall")  # d
    Condition.objects.create(segment=segment, group=2, field=Field.SILENT, operator=GTE, days=60)  # c
    # (a or d or c) and (d or c)
    assert names(p, segment_members(segment, now=NOW)) == "cd"
    segment.groups_logic, segment.conditions_logic = Logic.ANY, Logic.ALL
    segment.save()
    # (VIP and 重要挽留) or (tmall and silent 60 days): nobody, then d
    assert names(p, segment_members(segment, now=NOW)) == ""
    Condition.objects.filter(segment=segment, field=Field.SILENT).update(operator=LTE, days=20)
    assert names(p, segment_members(segment, now=NOW)) == "d"
    assert segment_count(segment, now=NOW) == 1
    segment.refresh_from_db()
    assert (segment.member_count, segment.counted_at) == (1, NOW)


def test_no_conditions_no_members_and_static_lists(programme):
    p = programme
    empty = Segment.objects.create(name="空")
    assert segment_members(empty, now=NOW).count() == 0
    listed = Segment.objects.create(name="名单", kind=Segment.Kind.STATIC)
    for name in ("a", "c", "e"):
        SegmentMember.objects.create(segment=listed, member=p[name])
    assert names(p, segment_members(listed)) == "ac"  # e is frozen


def test_a_tag_rule_keeps_its_tag_equal_to_its_segment(programme):
    p = programme
    silent = Segment.objects.create(name="沉默")
    Condition.objects.create(segment=silent, field=Field.SILENT, operator=GTE, days=30)  # c only
    tag = TagFactory(name="高价值沉默")
    p["b"].tags.add(tag)  # given by hand, outside the segment
    p["e"].tags.add(tag)  # frozen: in no segment, loses it too
    rule = TagRule.objects.create(tag=tag, segment=silent)
    assert tag_rule_apply(rule, now=NOW) == (1, 2)  # c gained it; b and e lost it
    assert names(p, Member.objects.filter(tags=tag)) == "c"
    assert tag_rules_apply(now=NOW) == 1
    rule.refresh_from_db()
    assert (rule.last_added, rule.last_removed, rule.last_run_at) == (0, 0, NOW)  # nothing moved
