"""The journeys a new programme ships with, as drafts ready to switch on (submit, approve,
schedule), with their SMS templates, the win-back segment and its coupon. Written when the
database has no journey at all, so an operator's own are never touched by a deploy.

Texts are in Chinese (the programme's members read Chinese); each template has an English
version an operator can pick instead. SMS texts carry the brand's signature placeholder 【会员中心】
and the unsubscribe keyword, as Chinese gateways require.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.apps import apps as global_apps
from django.utils import timezone

#: code: (name, {language: body})
TEMPLATES: dict[str, tuple[str, dict[str, str]]] = {
    "points-expiring": (
        "积分到期提醒",
        {
            "zh-hans": "【会员中心】{name}您好，您有{expiring_points}积分将于{expiring_date}到期，"
            "当前可用{points}积分，可兑换{reward}。退订回T",
            "en": "{name}, {expiring_points} of your points expire on {expiring_date}. You have {points} "
            "points: enough for {reward}. Reply T to unsubscribe.",
        },
    ),
    "win-back": (
        "好久不见",
        {
            "zh-hans": "【会员中心】{name}，好久不见！送您一张{coupon}，"
            "{coupon_expires}前有效，期待您的光临。退订回T",
            "en": "{name}, we miss you! Here is a {coupon},"
            " valid until {coupon_expires}. Reply T to unsubscribe.",
        },
    ),
    "welcome": (
        "欢迎入会",
        {
            "zh-hans": "【会员中心】{name}，欢迎加入！您的会员号{member_number}，"
            "消费即可累积积分与成长值。退订回T",
            "en": "Welcome, {name}! Your member number is {member_number}: every purchase earns points. "
            "Reply T to unsubscribe.",
        },
    ),
    "welcome-profile": (
        "完善资料提醒",
        {
            "zh-hans": "【会员中心】{name}，完善生日等资料，生日当月可享专属礼遇。退订回T",
            "en": "{name},"
            " add your birthday to your profile to receive a birthday treat. Reply T to unsubscribe.",
        },
    ),
    "birthday": (
        "生日祝福",
        {
            "zh-hans": "【会员中心】{name}，祝您生日快乐！生日当月到店出示会员码，"
            "即可享{tier}会员生日礼遇。退订回T",
            "en": "Happy birthday, {name}! Show your member code this month for your {tier} birthday treat. "
            "Reply T to unsubscribe.",
        },
    ),
    "tier-upgrade": (
        "升级祝贺",
        {
            "zh-hans": "【会员中心】恭喜{name}升级为{tier}会员！更多权益已为您开启。退订回T",
            "en": "Congratulations, {name}:"
            " you are now {tier}! Your new benefits are ready. Reply T to unsubscribe.",
        },
    ),
    "tier-warning": (
        "保级提醒",
        {
            "zh-hans": "【会员中心】{name}，您的{tier}会员将于{review_date}评定，"
            "还需{growth_needed}成长值即可保级。退订回T",
            "en": "{name}, your {tier} status is reviewed on {review_date}: "
            "{growth_needed} more growth keeps it. Reply T to unsubscribe.",
        },
    ),
    "coupon-expiring": (
        "优惠券到期提醒",
        {
            "zh-hans": "【会员中心】{name}，您的{coupon}将于{coupon_expires}到期，别错过哦。退订回T",
            "en": "{name}, your {coupon} expires on {coupon_expires}. Reply T to unsubscribe.",
        },
    ),
}

WIN_BACK_SEGMENT = "待挽回会员"
WIN_BACK_COUPON = "回归礼券 满100减20"

#: code: (name, trigger, days, exit on purchase, holdout %, steps); a step is (kind, value):
#: wait days, a template code, "coupon" (the win-back coupon).
JOURNEYS: list[tuple[str, str, str, int | None, bool, int, list[tuple[str, Any]]]] = [
    (
        "welcome",
        "新会员欢迎",
        "enrolment",
        None,
        False,
        0,
        [("message", "welcome"), ("wait", 3), ("message", "welcome-profile")],
    ),
    (
        "points-expiring-30",
        "积分到期提醒（30天）",
        "expiring",
        30,
        False,
        10,
        [("message", "points-expiring")],
    ),
    ("points-expiring-7", "积分到期提醒（7天）", "expiring", 7, False, 10, [("message", "points-expiring")]),
    ("win-back", "沉睡会员唤醒", "segment", None, True, 10, [("coupon", None), ("message", "win-back")]),
    ("birthday", "生日祝福", "birthday", 0, False, 0, [("message", "birthday")]),
    ("tier-upgrade", "升级祝贺", "upgrade", None, False, 0, [("message", "tier-upgrade")]),
    ("tier-warning", "保级提醒", "review", 30, False, 10, [("message", "tier-warning")]),
    ("coupon-expiring", "优惠券到期提醒", "coupon", 3, True, 0, [("message", "coupon-expiring")]),
]


def install(*, apps: Any = None, using: str = "default", **_kwargs: Any) -> None:
    """post_migrate: ship the journeys when there are none."""
    apps = apps or global_apps
    Journey = apps.get_model("journeys", "Journey")
    if Journey.objects.using(using).exists():
        return
    Template = apps.get_model("messaging", "Template")
    JourneyStep = apps.get_model("journeys", "JourneyStep")
    templates = {}
    for code, (name, bodies) in TEMPLATES.items():
        for language, body in bodies.items():
            template, _created = Template.objects.using(using).get_or_create(
                code=code, channel="sms", language=language, defaults={"name": name, "body": body}
            )
            if language == "zh-hans":
                templates[code] = template
    segment = _win_back_segment(apps, using)
    coupon = _win_back_coupon(apps, using)
    now = timezone.now()
    for code, name, trigger, days, exit_on_purchase, holdout, steps in JOURNEYS:
        journey = Journey.objects.using(using).create(
            code=code,
            name=name,
            status="draft",
            trigger=trigger,
            days=days,
            segment=segment if trigger == "segment" else None,
            reentry_days=180 if trigger == "segment" else None,
            exit_on_purchase=exit_on_purchase,
            holdout_percent=holdout,
            starts_at=now,
            ends_at=now + datetime.timedelta(days=3 * 365),
        )
        for position, (kind, value) in enumerate(steps, start=1):
            JourneyStep.objects.using(using).create(
                journey=journey,
                position=position,
                kind=kind,
                wait_days=value if kind == "wait" else None,
                template=templates[value] if kind == "message" else None,
                benefit=coupon if kind == "coupon" else None,
            )


def _win_back_segment(apps: Any, using: str) -> Any:
    """重要挽留客户 (RFM) or silent for 90 days."""
    Segment = apps.get_model("segments", "Segment")
    Condition = apps.get_model("segments", "Condition")
    segment, created = Segment.objects.using(using).get_or_create(
        name=WIN_BACK_SEGMENT,
        defaults={
            "description": "重要挽留客户，或 90 天未消费",
            "groups_logic": "any",
            "conditions_logic": "all",
        },
    )
    if created:
        Condition.objects.using(using).create(
            segment=segment, group=1, field="rfm", operator="is", choice="important_win_back"
        )
        Condition.objects.using(using).create(
            segment=segment, group=2, field="silent", operator="gte", days=90
        )
    return segment


def _win_back_coupon(apps: Any, using: str) -> Any:
    Benefit = apps.get_model("benefits", "Benefit")
    benefit, _created = Benefit.objects.using(using).get_or_create(
        name=WIN_BACK_COUPON,
        defaults={"kind": "amount_off", "value": 20, "min_spend": 100, "valid_days": 14},
    )
    return benefit
