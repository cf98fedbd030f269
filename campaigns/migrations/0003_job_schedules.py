from django.conf import settings
from django.db import migrations
from django.utils import timezone

#: (name, task, minute, hour): the jobs and times of the beat schedule that lived in settings.
#: Every job is idempotent and safe to overlap, so a missed or doubled run does no harm.
SCHEDULES = [
    # Partners' stored answers to retries: kept 48 hours (at least the promised 24), then forgotten.
    ("partners-purge-idempotency-keys", "partners.purge_idempotency_keys", "30", "3"),
    ("points-activate-due-lots", "points.activate_due_lots", "*/15", "*"),
    ("points-expire-due-lots", "points.expire_due_lots", "5", "0"),
    # Paid periods and overrides end before the review, so it settles members on what they hold.
    ("tiers-expire-due-subscriptions", "tiers.expire_due_subscriptions", "*/15", "*"),
    ("tiers-end-due-overrides", "tiers.end_due_overrides", "*/15", "*"),
    ("tiers-review-due", "tiers.review_due_tiers", "15", "0"),
    # After the review: members who reached a tier get this period's coupons the same morning.
    ("benefits-issue-entitlements", "benefits.issue_entitlements", "0", "1"),
    ("benefits-expire-due-coupons", "benefits.expire_due_coupons", "30", "*"),
    # Campaigns start and end on their dates; birthday campaigns run in the morning, local time.
    ("campaigns-start-and-end-due", "campaigns.start_and_end_due_campaigns", "*/5", "*"),
    ("campaigns-birthdays", "campaigns.process_birthdays", "0", "8"),
]


def create_schedules(apps, schema_editor):
    """The periodic tasks, in the programme's time zone; an existing row (edited by an
    administrator) is left as it is."""
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    for name, task, minute, hour in SCHEDULES:
        crontab, _created = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*",
            timezone=settings.TIME_ZONE,
        )
        PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "crontab": crontab})
    # tells a running beat to reload its schedule (what the library's own save() does)
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, *_rest in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0002_programme_defaults"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
