"""The behaviour event types a new programme starts with; operators add their own."""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps

EVENT_TYPES = [
    ("registration", "注册"),
    ("profile_completed", "完善资料"),
    ("daily_sign_in", "每日签到"),
    ("review", "评价"),
    ("share", "分享"),
    ("referral", "推荐好友"),
    ("event_attendance", "参加活动"),
]


def event_types_ensure(*, apps: Any = None, using: str = "default", **_kwargs: Any) -> None:
    """post_migrate: a database without event types gets these (never over an operator's)."""
    apps = apps or global_apps  # flush sends post_migrate without the migration state
    EventType = apps.get_model("purchases", "EventType")
    if not EventType.objects.using(using).exists():
        EventType.objects.using(using).bulk_create(
            EventType(code=code, name=name) for code, name in EVENT_TYPES
        )
