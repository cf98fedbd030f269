"""Journeys on a small programme, every figure worked out by hand.

Now is Thursday 2026-12-24 12:00 (Asia/Shanghai: outside quiet hours). Rewards on offer: 马克杯
400 points, 帆布包 800 points, and 贵宾礼 100 points kept for a tier (never suggested).

member  consent  points                                            expected reminder (7 days)
a       sms      300 valid through 2026-12-28, 200 through 2027-06-30  300 on 2026-12-28, 500 now: 马克杯
b       sms      1000 valid through 2026-12-30                       1000 on 2026-12-30: 帆布包
c       sms, then withdrawn by the unsubscribe link; 300 through 12-28   entered, message not sent (consent)
d       sms      100 valid through 2027-01-13 (20 days)              not entered (outside 7 days)
e       frozen; 300 through 12-28                                   not entered
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied

from benefits.models import Benefit, Coupon, Reward
from campaigns.journeys.models import Journey, JourneyEntry, JourneyStep, Trigger
from campaigns.journeys.selectors import journey_audience, journey_results
from campaigns.journeys.services import journeys_run
from campaigns.services import lifecycle_transition
from config.common.roles import Role
from members.messaging.models import Message, Template
from members.messaging.replies import unsubscribe
from members.models import Member
from members.purchases.models import Purchase
from points.models import Lot, Source
from points.services import points_earn
from tests.factories import MemberFactory
from tiers.models import Tier

pytestmark = pytest.mark.django_db

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime.datetime(2026, 12, 24, 12, tzinfo=TZ)


def expired_from(y: int, m: int, d: int) -> datetime.datetime:
    """The instant a lot whose last valid day is the day before is expired."""
    return datetime.datetime(y, m, d, tzinfo=TZ)


def earn(member: Member, amount: int, expires: datetime.datetime, tag: str = "") -> None:
    at = NOW - datetime.timedelta(days=200)
    entry = points_earn(
        member=member, point_type="points", amount=amount, source=Source.OPERATOR,
        idempotency_key=f"t-{member.pk}-{amount}-{tag}", at=at, available_at=at,
    )  # fmt: skip
    Lot.objects.filter(entry=entry).update(expires_at=expires)


@pytest.fixture
def people(make_user):
    return make_user(Role.OPERATOR, username="op"), make_user(Role.APPROVER, username="boss")


def go_live(journey: Journey, people, **changes) -> Journey:
    operator, approver = people
    Journey.objects.filter(pk=journey.pk).update(created_by=operator, **changes)
    journey.refresh_from_db()
    lifecycle_transition(journey, "submit", actor=operator, at=NOW)
    lifecycle_transition(journey, "approve", actor=approver, at=NOW)
    return lifecycle_transition(journey, "schedule", actor=operator, at=NOW)


@pytest.fixture
def programme(db):
    gold = Tier.objects.create(rank=1, code="gold", name="金卡", threshold=1000)
    for name, price, tier in (("马克杯", 400, None), ("帆布包", 800, None), ("贵宾礼", 100, gold)):
        benefit = Benefit.objects.create(name=name, kind=Benefit.Kind.GIFT)
        Reward.objects.create(
            name=name, kind=Reward.Kind.PHYSICAL, points_price=price, benefit=benefit, min_tier=tier
        )
    a, b, c, d, e = (
        MemberFactory(name=n, consents={"sms": True}) for n in ("阿文", "贝贝", "陈晨", "丁丁", "鄂鄂")
    )
    earn(a, 300, expired_from(2026, 12, 29))
    earn(a, 200, expired_from(2027, 7, 1))
    earn(b, 1000, expired_from(2026, 12, 31))
    earn(c, 300, expired_from(2026, 12, 29))
    earn(d, 100, expired_from(2027, 1, 14))
    earn(e, 300, expired_from(2026, 12, 29))
    unsubscribe(c, "sms", source="link")
    Member.objects.filter(pk=e.pk).update(status=Member.Status.FROZEN)
    return {"a": a, "b": b, "c": c, "d": d, "e": e}


def messages(source: str) -> dict[str, Message]:
    return {m.member.name: m for m in Message.objects.filter(source=source).select_related("member")}


def test_the_expiry_reminder_end_to_end(programme, people):
    journey = go_live(Journey.objects.get(code="points-expiring-7"), people, holdout_percent=0)
    assert journey.status == "active"
    preview = journey_audience(journey, NOW)
    assert preview.count == 3  # a, b, c: d's points expire in 20 days, e is frozen

    journeys_run(now=NOW)

    sent = messages("journey:points-expiring-7")
    assert set(sent) == {"阿文", "贝贝", "陈晨"}
    assert JourneyEntry.objects.filter(journey=journey).count() == preview.count
    a, b, c = sent["阿文"], sent["贝贝"], sent["陈晨"]
    assert a.body == (
        "【会员中心】阿文您好，您有300积分将于2026-12-28到期，当前可用500积分，可兑换马克杯。退订回T"
    )
    assert b.body == (
        "【会员中心】贝贝您好，您有1000积分将于2026-12-30到期，当前可用1000积分，可兑换帆布包。退订回T"
    )
    assert (a.status, b.status) == (Message.Status.QUEUED, Message.Status.QUEUED)
    assert a.recipient == programme["a"].mobile.as_e164 and a.recipient.startswith(
        "+86"
    )  # what gateways take
    assert (c.status, c.reason) == (Message.Status.BLOCKED, Message.Reason.NO_CONSENT)

    journeys_run(now=NOW)  # the job again, and the next day: nothing twice
    journeys_run(now=NOW + datetime.timedelta(days=1))
    assert Message.objects.filter(source="journey:points-expiring-7").count() == 3
    assert JourneyEntry.objects.filter(journey=journey, status="completed").count() == 3


def test_a_member_with_too_few_points_for_any_reward_is_told_of_the_catalogue(programme, people):
    poor = MemberFactory(name="小钱", consents={"sms": True})
    earn(poor, 50, expired_from(2026, 12, 27))
    go_live(Journey.objects.get(code="points-expiring-7"), people, holdout_percent=0)
    journeys_run(now=NOW)
    body = messages("journey:points-expiring-7")["小钱"].body
    assert "您有50积分将于2026-12-26到期，当前可用50积分，可兑换积分商城的好礼" in body  # 贵宾礼 is for 金卡


def test_a_journey_goes_live_only_when_someone_else_approves_it(programme, people):
    operator, approver = people
    journey = Journey.objects.get(code="points-expiring-7")
    Journey.objects.filter(pk=journey.pk).update(created_by=approver)
    journey.refresh_from_db()
    lifecycle_transition(journey, "submit", actor=operator, at=NOW)
    with pytest.raises(PermissionDenied, match="own journey"):
        lifecycle_transition(journey, "approve", actor=approver, at=NOW)
    journeys_run(now=NOW)
    assert not JourneyEntry.objects.exists() and not Message.objects.exists()  # submitted is not live


def test_the_control_group_enters_and_receives_nothing(programme, people):
    journey = go_live(Journey.objects.get(code="points-expiring-7"), people, holdout_percent=50)
    from campaigns.earning.engine import in_control

    expected = {
        m.name for m in Member.objects.filter(pk__in=[programme[k].pk for k in "abc"])
        if in_control(f"journey-{journey.pk}", m.pk, 50)
    }  # fmt: skip
    journeys_run(now=NOW)
    control = set(
        JourneyEntry.objects.filter(journey=journey, status="control").values_list("member__name", flat=True)
    )
    assert control == expected
    assert not control & set(messages("journey:points-expiring-7"))
    results = journey_results(journey)
    assert (results.entered, results.control) == (3, len(expected))


def test_win_back_gives_a_coupon_and_says_so_and_a_purchase_ends_the_walk(people):
    silent = MemberFactory(name="沉默", consents={"sms": True})
    Purchase.objects.create(
        source="pos", order_number="old", channel="store", member=silent,
        occurred_at=NOW - datetime.timedelta(days=100), gross_amount=80, paid_amount=80,
    )  # fmt: skip
    journey = Journey.objects.get(code="win-back")
    template = Template.objects.get(code="win-back", language="zh-hans")
    # a reminder three days later, unless the member came back
    JourneyStep.objects.create(journey=journey, position=3, kind="wait", wait_days=3)
    JourneyStep.objects.create(journey=journey, position=4, kind="message", template=template)
    go_live(journey, people, holdout_percent=0)
    assert journey_audience(journey, NOW).count == 1

    journeys_run(now=NOW)

    coupon = Coupon.objects.get(member=silent)
    assert coupon.benefit.name == "回归礼券 满100减20"
    assert coupon.valid_until == NOW + datetime.timedelta(days=14)
    assert messages("journey:win-back")["沉默"].body == (
        "【会员中心】沉默，好久不见！送您一张回归礼券 满100减20，2027-01-07前有效，期待您的光临。退订回T"
    )
    Purchase.objects.create(
        source="pos", order_number="back", channel="store", member=silent,
        occurred_at=NOW + datetime.timedelta(days=1), gross_amount=120, paid_amount=120,
    )  # fmt: skip
    journeys_run(now=NOW + datetime.timedelta(days=3, minutes=1))
    entry = JourneyEntry.objects.get(journey=journey)
    assert (entry.status, entry.exit_reason) == ("exited", "purchase")
    assert Message.objects.filter(source="journey:win-back").count() == 1  # no reminder
    results = journey_results(journey)
    assert (results.coupons, results.conversion) == (1, 1)
    journeys_run(now=NOW + datetime.timedelta(days=30))
    assert JourneyEntry.objects.filter(journey=journey).count() == 1  # re-entry only after 180 days


def test_welcome_series_waits_between_messages(people):
    journey = go_live(Journey.objects.get(code="welcome"), people)
    Journey.objects.filter(pk=journey.pk).update(starts_at=NOW - datetime.timedelta(hours=1))
    newcomer = MemberFactory(name="新人", consents={"sms": True})
    Member.objects.filter(pk=newcomer.pk).update(created_at=NOW - datetime.timedelta(minutes=5))
    journeys_run(now=NOW)
    assert [m.template.code for m in Message.objects.filter(member=newcomer)] == ["welcome"]
    journeys_run(now=NOW + datetime.timedelta(days=2))
    assert Message.objects.filter(member=newcomer).count() == 1  # the wait is three days
    journeys_run(now=NOW + datetime.timedelta(days=3))
    assert [m.template.code for m in Message.objects.filter(member=newcomer).order_by("pk")] == [
        "welcome",
        "welcome-profile",
    ]
    assert JourneyEntry.objects.get(member=newcomer).status == "completed"


def test_a_condition_step_lets_out_members_not_in_its_segment(programme, people):
    from campaigns.segments.models import Condition, Segment

    rich = Segment.objects.create(name="千分以上")
    Condition.objects.create(segment=rich, group=1, field="available", operator="gte", number=1000)
    journey = Journey.objects.get(code="points-expiring-7")
    step = journey.steps.get()
    step.position = 2
    step.save()
    JourneyStep.objects.create(journey=journey, position=1, kind="condition", segment=rich)
    go_live(journey, people, holdout_percent=0)
    journeys_run(now=NOW)
    assert set(messages("journey:points-expiring-7")) == {"贝贝"}
    exits = dict(
        JourneyEntry.objects.filter(journey=journey, status="exited").values_list(
            "member__name", "exit_reason"
        )
    )
    assert exits == {"阿文": "condition", "陈晨": "condition"}


def test_date_and_fact_triggers_find_their_members(people):
    from benefits.coupons import coupon_issue
    from campaigns.journeys.triggers import arrivals

    benefit = Benefit.objects.create(name="十元券", kind=Benefit.Kind.AMOUNT_OFF, value=10, valid_days=2)
    holder = MemberFactory(name="券")
    coupon = coupon_issue(
        holder, benefit=benefit, origin=Coupon.Origin.MANUAL, at=NOW - datetime.timedelta(days=1)
    )
    born = MemberFactory(name="寿星")
    leap = MemberFactory(name="闰")
    Member.objects.filter(pk=born.pk).update(birthday=datetime.date(1990, 12, 24))
    Member.objects.filter(pk=leap.pk).update(birthday=datetime.date(1992, 2, 29))

    def found(code: str, now=NOW, **changes) -> dict[str, str]:
        journey = Journey.objects.get(code=code)
        for name, value in changes.items():
            setattr(journey, name, value)
        return {Member.objects.get(pk=a.member_id).name: a.occurrence for a in arrivals(journey, now)}

    assert found("coupon-expiring") == {"券": f"coupon:{coupon.pk}"}  # valid 1 more day, within 3
    assert found("birthday") == {"寿星": "birthday:2026"}
    assert found("birthday", days=6) == {"寿星": "birthday:2026"}  # 29 Feb is not in the window
    feb = datetime.datetime(2027, 2, 27, 12, tzinfo=TZ)
    assert found("birthday", now=feb, days=1) == {"闰": "birthday:2027"}  # kept on the 28th in 2027
    assert Journey(trigger=Trigger.TIER_UPGRADE).days is None
