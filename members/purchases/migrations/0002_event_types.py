"""The behaviour event types every programme starts with; operators add their own."""

from django.db import migrations

EVENT_TYPES = [
    ("registration", "注册"),
    ("profile_completed", "完善资料"),
    ("daily_sign_in", "每日签到"),
    ("review", "评价"),
    ("share", "分享"),
    ("referral", "推荐好友"),
    ("event_attendance", "参加活动"),
]


def create_event_types(apps, schema_editor):
    EventType = apps.get_model("purchases", "EventType")
    for code, name in EVENT_TYPES:
        EventType.objects.get_or_create(code=code, defaults={"name": name})


class Migration(migrations.Migration):
    dependencies = [("purchases", "0001_initial")]

    operations = [migrations.RunPython(create_event_types, migrations.RunPython.noop)]
