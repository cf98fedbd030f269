"""Demo campaigns (``CampaignsConfig.demo_seed``): behaviour rules, campaigns in every status,
and the last 60 days of purchases, refunds and sign-ins run through the earning pipeline, so
member pages explain their points and campaign results have something to show.

Campaigns go through the lifecycle services: the demo operator writes and submits them, the
demo approver approves them. One waits for approval, one is a draft, one has ended.
"""

from __future__ import annotations

import datetime
import random
from decimal import Decimal

from benefits.models import Benefit
from campaigns.earning.facts import event_record_and_earn, purchase_record_and_earn, refund_record_and_earn
from campaigns.models import BehaviourRule, Campaign
from campaigns.risk import demo as risk_demo
from campaigns.services import campaign_draft_create, campaigns_due, lifecycle_transition
from members.demo import DemoRun
from members.models import Channel, Member, Store
from members.purchases.models import EventType
from members.purchases.services import Line
from members.referrals.errors import ReferralRefused
from members.referrals.services import referral_code_get, referral_link
from points.services import lots_activate_due

BEHAVIOUR = [
    ("daily_sign_in", 5, 1, "day"),
    ("review", 20, 3, "month"),
    ("profile_completed", 100, 1, "ever"),
]
PRODUCTS = [
    ("F001", "食品", 38),
    ("F002", "食品", 66),
    ("D001", "饮品", 18),
    ("C001", "服饰", 299),
    ("W001", "烟酒", 128),
]
BUYERS, PURCHASE_DAYS = 0.1, 60  # a tenth of the new members buy (300 of the default 3,000)


def _campaigns(now: datetime.datetime) -> list[tuple[dict, str]]:
    """(fields, how far it goes: draft / submitted / live / ended)."""
    day = datetime.timedelta(days=1)
    year = (now - 200 * day, now + 165 * day)
    return [
        (
            {
                "code": "double-11",
                "name": "双11双倍积分",
                "multiplier": Decimal(2),
                "priority": 10,
                "starts_at": now - 10 * day,
                "ends_at": now + 3 * day,
                "holdout_percent": 10,
                "budget_points": 2_000_000,
                "member_daily_points": 5000,
                "description": "双11期间全渠道消费积分翻倍，每人每日最多加赠 5,000 积分",
            },
            "live",
        ),
        (
            {
                "code": "birthday-month",
                "name": "生日月双倍积分",
                "multiplier": Decimal(2),
                "priority": 5,
                "birthday": Campaign.Birthday.MONTH,
                "starts_at": year[0],
                "ends_at": year[1],
            },
            "live",
        ),
        (
            {
                "code": "first-purchase",
                "name": "新会员首单礼",
                "bonus_points": 200,
                "first_purchase": True,
                "new_member_days": 30,
                "benefit": "满100减20",
                "starts_at": year[0],
                "ends_at": year[1],
            },
            "live",
        ),
        (
            {
                "code": "invite-friends",
                "name": "邀请好友首单奖励",
                "trigger": Campaign.Trigger.REFERRAL,
                "bonus_points": 300,
                "min_paid": Decimal(50),
                "member_max_times": 5,
                "member_times_period": Campaign.TimesPeriod.MONTH,
                "description": "好友用推荐码入会并首单满 50 元，推荐人得 300 积分，每月最多 5 位好友",
                "starts_at": year[0],
                "ends_at": year[1],
            },
            "live",
        ),
        (
            {
                "code": "referee-welcome",
                "name": "受邀新人首单礼",
                "bonus_points": 100,
                "first_purchase": True,
                "referred_only": True,
                "starts_at": year[0],
                "ends_at": year[1],
            },
            "live",
        ),
        (
            {
                "code": "upgrade-gift",
                "name": "升级礼",
                "trigger": Campaign.Trigger.TIER_UPGRADE,
                "bonus_points": 500,
                "starts_at": year[0],
                "ends_at": year[1],
            },
            "live",
        ),
        (
            {
                "code": "birthday-gift",
                "name": "生日礼",
                "trigger": Campaign.Trigger.BIRTHDAY,
                "benefit": "生日礼",
                "starts_at": year[0],
                "ends_at": year[1],
            },
            "live",
        ),
        (
            {
                "code": "national-day",
                "name": "国庆加倍",
                "multiplier": Decimal("1.5"),
                "exclusive": True,
                "priority": 20,
                "budget_points": 20_000,
                "starts_at": now - 52 * day,
                "ends_at": now - 45 * day,
            },
            "ended",
        ),
        (
            {
                "code": "weekend-store",
                "name": "周末到店加赠",
                "points_per_cny": Decimal("0.5"),
                "channels": [Channel.STORE],
                "weekdays": [6, 7],
                "starts_at": now + 5 * day,
                "ends_at": now + 60 * day,
            },
            "submitted",
        ),
        (
            {
                "code": "spring-festival",
                "name": "春节集卡",
                "bonus_points": 88,
                "min_paid": Decimal(188),
                "starts_at": now + 60 * day,
                "ends_at": now + 80 * day,
            },
            "draft",
        ),
    ]


def seed(run: DemoRun) -> str | None:
    operator, approver = run.users.get("operator"), run.users.get("approver")
    if operator is None or approver is None:
        return None
    for code, amount, cap, period in BEHAVIOUR:
        BehaviourRule.objects.get_or_create(
            event_type=EventType.objects.get(code=code),
            point_type_id=_points_id(),
            defaults={"amount": amount, "cap": cap, "cap_period": period},
        )
    made = [_campaign(fields, stage, operator, approver, run.now) for fields, stage in _campaigns(run.now)]
    referred = _referrals(run, run.rng("referrals"))
    rng = run.rng("campaigns")
    purchases, refunds, events = _activity(run, rng)
    lots_activate_due(now=run.now)
    live = sum(1 for c in made if c and c.status == Campaign.Status.ACTIVE)
    risk = risk_demo.seed(run)  # after the activity: the starter rules would hold some of it
    return (
        f"{len([c for c in made if c])} campaigns ({live} live); "
        f"{purchases} purchases, {refunds} refunds, {events} sign-ins through the pipeline; "
        f"{referred} members enrolled with a friend's referral code; {risk}"
    )


def _referrals(run: DemoRun, rng: random.Random) -> int:
    """One newer member in twenty enrolled with an older member's referral code (以老带新)."""
    active = list(run.members.filter(status=Member.Status.ACTIVE).order_by("pk"))
    linked = 0
    for index in range(1, len(active)):
        if rng.random() >= 0.05:
            continue
        referrer = active[rng.randrange(index)]
        try:
            referral_link(active[index], referral_code_get(referrer), source="demo")
        except ReferralRefused:
            continue  # referred already (a second run), or one person after all
        linked += 1
    return linked


def _points_id() -> int:
    from points.models import PointType

    return PointType.objects.get(code="points").pk


def _campaign(fields: dict, stage: str, operator, approver, now) -> Campaign | None:
    if Campaign.objects.filter(code=fields["code"]).exists():
        return None
    fields = dict(fields)
    if benefit := fields.pop("benefit", None):
        fields["benefit"] = Benefit.objects.filter(name=benefit).first()
    campaign = campaign_draft_create(values=fields, actor=operator)
    steps = {"draft": [], "submitted": ["submit"], "live": ["submit", "approve", "schedule"]}
    if stage == "ended":  # it ran its course: approved while it was ahead, ended at its end
        lifecycle_transition(
            campaign, "submit", actor=operator, at=campaign.starts_at - datetime.timedelta(days=3)
        )
        lifecycle_transition(
            campaign, "approve", actor=approver, at=campaign.starts_at - datetime.timedelta(days=2)
        )
        lifecycle_transition(
            campaign, "schedule", actor=operator, at=campaign.starts_at - datetime.timedelta(days=1)
        )
        campaigns_due(now)  # the start-and-end job, as beat runs it: its end has passed
        return Campaign.objects.get(pk=campaign.pk)
    for action in steps[stage]:
        campaign = lifecycle_transition(
            campaign, action, actor=approver if action == "approve" else operator, at=now
        )
    return campaign


def _activity(run: DemoRun, rng: random.Random) -> tuple[int, int, int]:
    active = list(run.members.filter(status=Member.Status.ACTIVE).order_by("pk"))
    members = rng.sample(active, min(len(active), max(20, int(len(active) * BUYERS))))
    stores = list(Store.objects.filter(is_active=True).order_by("pk")[:10])
    if not members or not stores:
        return 0, 0, 0
    plan = []
    for member in members:
        for _ in range(rng.randint(1, 3)):
            at = run.now - datetime.timedelta(minutes=rng.randint(60, PURCHASE_DAYS * 24 * 60))
            plan.append((max(at, member.created_at + datetime.timedelta(hours=1)), member))
    plan.sort(key=lambda item: item[0])
    purchases = refunds = 0
    for n, (at, member) in enumerate(plan):
        if at >= run.now:
            continue
        online = rng.random() < 0.35
        lines = [
            Line(sku=sku, name="", category=cat, amount=Decimal(price * qty), quantity=Decimal(qty))
            for sku, cat, price in rng.sample(PRODUCTS, rng.randint(1, 3))
            for qty in [rng.randint(1, 3)]
        ]
        total = sum(line.amount for line in lines)
        purchase, _created, _award = purchase_record_and_earn(
            member=member,
            source="demo-pos" if not online else "demo-tmall",
            order_number=f"DEMO-{run.existing:07d}-{n:05d}",
            channel=Channel.TMALL if online else Channel.STORE,
            store=None if online else rng.choice(stores),
            occurred_at=at,
            gross_amount=total,
            paid_amount=total,
            shipping_amount=Decimal(0),
            lines=lines,
            now=run.now,
            at=run.now,
        )
        purchases += 1
        if n % 20 == 0:  # one purchase in twenty comes back, partly
            refund_record_and_earn(
                purchase=purchase,
                source=purchase.source,
                refund_number=f"{purchase.order_number}-R",
                amount=lines[0].amount,
                occurred_at=min(at + datetime.timedelta(days=2), run.now),
                now=run.now,
                at=run.now,
            )
            refunds += 1
    # One receipt far above the usual basket, so the approvers' queue (待审核奖励) has a case:
    # over the review limit, its points wait for a decision.
    purchase_record_and_earn(
        member=members[0],
        source="demo-pos",
        order_number=f"DEMO-{run.existing:07d}-REVIEW",
        channel=Channel.STORE,
        store=stores[0],
        occurred_at=run.now - datetime.timedelta(hours=2),
        gross_amount=Decimal("36800.00"),
        paid_amount=Decimal("36800.00"),
        shipping_amount=Decimal(0),
        lines=[],
        now=run.now,
        at=run.now,
    )
    purchases += 1
    events = 0
    for member in members[: len(members) // 3]:
        for days_ago in sorted(rng.sample(range(1, 8), rng.randint(1, 5)), reverse=True):
            at = run.now - datetime.timedelta(days=days_ago)
            if at <= member.created_at:
                continue
            event_record_and_earn(
                member=member,
                event_type="daily_sign_in",
                key=f"signin:{member.pk}:{at:%Y%m%d}",
                occurred_at=at,
                channel=Channel.WECHAT_MINIPROGRAM,
                now=run.now,
                at=run.now,
            )
            events += 1
    return purchases, refunds, events
