"""What each scheduled job does, in the words the admin's list of schedules (周期任务) shows.

The schedules are rows of django-celery-beat: each job of ``SCHEDULES`` (below) gets its row
after ``migrate`` when its task has none; administrators edit them in the admin (and switch a
job off rather than delete it, or the next deploy schedules it again). Tasks
are named by stable strings (``points.activate_due_lots``), not module paths, so a module can
move without orphaning its schedule. A task scheduled here needs a line below: a test fails
otherwise.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps
from django.conf import settings
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

JOBS: dict[str, Promise] = {
    "common.apply_due_changes": _(
        "Approved programme changes take effect at the time they were scheduled for."
    ),
    "partners.purge_idempotency_keys": _(
        "Forgets partners' stored answers to retried requests after 48 hours, and expired member codes."
    ),
    "points.activate_due_lots": _("Pending points whose return window has ended become available."),
    "points.expire_due_lots": _("Points past their expiry date expire."),
    "points.release_expired_holds": _(
        "Points held at a till that were neither captured by a purchase nor released in time go back."
    ),
    "tiers.expire_due_subscriptions": _("Paid memberships whose period has ended stop."),
    "tiers.end_due_overrides": _("Manual tier overrides end on their end date."),
    "tiers.expire_plan_orders": _("Paid plan orders not paid in time expire."),
    "tiers.review_due_tiers": _(
        "Reviews the tier of members whose tier period has ended: kept, upgraded or downgraded."
    ),
    "benefits.issue_entitlements": _(
        "Issues the coupons members' tiers entitle them to for the current period."
    ),
    "benefits.expire_due_coupons": _("Coupons past their validity expire."),
    "campaigns.start_and_end_due_campaigns": _(
        "Scheduled campaigns start, and running ones end, on their dates."
    ),
    "campaigns.process_birthdays": _("Birthday campaigns award the members whose birthday is today."),
    "insight.rollup_recent_days": _(
        "Adds up the last seven days' purchases, members, points, tiers and coupons for the insight pages."
    ),
    "insight.rollup_today": _("Adds up today's figures so far for the insight pages."),
    "insight.measure_campaigns": _(
        "Measures running and recent campaigns against their control groups for the campaign league table."
    ),
    "scoring.score_members": _(
        "Scores every member: RFM segment, scores and lifecycle stage, with the moves since the last run."
    ),
    "messaging.send_due": _(
        "Sends the queued messages that are due (new ones also start a send at once); retries failed ones."
    ),
    "webhooks.deliver_due": _(
        "Delivers the partners' webhook events that are due (new ones start at once); retries failed ones."
    ),
    "points.announce_expiring": _(
        "Tells subscribed partners which members have points expiring within 30 days (once per expiry day)."
    ),
    "segments.apply_tag_rules": _(
        "Keeps each rule's tag equal to its segment: members who entered get the tag, those who left lose it."
    ),
    "journeys.run": _(
        "Runs the live journeys: starts and ends them, lets new members in and moves each one on a step."
    ),
    "imports.run_import": _("Runs a confirmed import (queued by the import page, not scheduled)."),
    "privacy.purge_personal_data": _(
        "Deletes personal data kept only for a while: finished imports' files and rows, partners' "
        "stored answers (periods in the privacy settings)."
    ),
    "risk.scan": _(
        "Runs the risk rules over yesterday's enrolments, purchases, refunds, redemptions and transfers; "
        "opens a case for each member caught and takes the rule's action."
    ),
    "oneid.find_duplicates": _(
        "Lists members who are likely one person (same UnionID, card or phone in another form, same "
        "name, birthday and city) for operators to merge or dismiss."
    ),
}


def job_description(task_name: str) -> str:
    return str(JOBS.get(task_name, ""))


#: (name, task, minute, hour): the jobs a new programme runs, and when.
#: Every job is idempotent and safe to overlap, so a missed or doubled run does no harm.
SCHEDULES = [
    # Approved changes to the programme's settings that were scheduled: within a minute of their time.
    ("common-apply-due-changes", "common.apply_due_changes", "*", "*"),
    # Partners' stored answers to retries: kept 48 hours (at least the promised 24), then forgotten.
    ("partners-purge-idempotency-keys", "partners.purge_idempotency_keys", "30", "3"),
    ("points-activate-due-lots", "points.activate_due_lots", "*/15", "*"),
    ("points-expire-due-lots", "points.expire_due_lots", "5", "0"),
    # A till that lost its connection leaves its hold: the customer's points come back within a minute.
    ("points-release-expired-holds", "points.release_expired_holds", "*", "*"),
    # A safety net: each queued message starts a send after its commit; this catches the rest
    # (retries, quiet hours ending, a broker that lost a task).
    ("messaging-send-due", "messaging.send_due", "*", "*"),
    # The same safety net for partners' webhooks (retries, a lost kick).
    ("webhooks-deliver-due", "webhooks.deliver_due", "*", "*"),
    # After the night's expiry, so what is announced is still there in the morning.
    ("points-announce-expiring", "points.announce_expiring", "30", "0"),
    # Paid periods and overrides end before the review, so it settles members on what they hold.
    ("tiers-expire-due-subscriptions", "tiers.expire_due_subscriptions", "*/15", "*"),
    ("tiers-end-due-overrides", "tiers.end_due_overrides", "*/15", "*"),
    ("tiers-expire-plan-orders", "tiers.expire_plan_orders", "*/15", "*"),
    ("tiers-review-due", "tiers.review_due_tiers", "15", "0"),
    # After the review: members who reached a tier get this period's coupons the same morning.
    ("benefits-issue-entitlements", "benefits.issue_entitlements", "0", "1"),
    ("benefits-expire-due-coupons", "benefits.expire_due_coupons", "30", "*"),
    # Campaigns start and end on their dates; birthday campaigns run in the morning, local time.
    ("campaigns-start-and-end-due", "campaigns.start_and_end_due_campaigns", "*/5", "*"),
    ("campaigns-birthdays", "campaigns.process_birthdays", "0", "8"),
    # After the night's expiry, tier review and coupons, so the day's figures include them; the
    # members' scores first, as the rollup's behaviour counts read them.
    ("scoring-score-members", "scoring.score_members", "20", "1"),
    ("insight-rollup-recent-days", "insight.rollup_recent_days", "40", "1"),
    ("insight-rollup-today", "insight.rollup_today", "*/10", "*"),
    ("insight-measure-campaigns", "insight.measure_campaigns", "20", "2"),
    # After the scores, which segments read (RFM segment, stage).
    ("segments-apply-tag-rules", "segments.apply_tag_rules", "40", "2"),
    # Every ten minutes, so a welcome follows an enrolment soon; date triggers fire on the first
    # run of their day (quiet hours hold the night's messages until the morning).
    ("journeys-run", "journeys.run", "*/10", "*"),
    # At night, when the member and identity tables are quiet: one pass over each.
    ("oneid-find-duplicates", "oneid.find_duplicates", "50", "3"),
    ("privacy-purge-personal-data", "privacy.purge_personal_data", "10", "4"),
    # After midnight's expiry and the insight rollups: yesterday is complete by then.
    ("risk-scan", "risk.scan", "30", "2"),
]


def schedules_ensure(*, apps: Any = None, using: str = "default", **_kwargs: Any) -> None:
    """post_migrate: every job of ``SCHEDULES`` whose task has no schedule yet gets its own, in the
    programme's time zone. A job an administrator moved or switched off keeps its row as it is;
    a job added by a new version starts running after the deploy's ``migrate``."""
    apps = apps or global_apps  # flush sends post_migrate without the migration state
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    scheduled = set(PeriodicTask.objects.using(using).values_list("task", flat=True))
    missing = [row for row in SCHEDULES if row[1] not in scheduled]
    if not missing:
        return
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    for name, task, minute, hour in missing:
        crontab, _created = CrontabSchedule.objects.using(using).get_or_create(
            minute=minute,
            hour=hour,
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone=settings.TIME_ZONE,
        )
        PeriodicTask.objects.using(using).get_or_create(
            name=name, defaults={"task": task, "crontab": crontab}
        )
    # tells a running beat to reload its schedule (what the library's own save() does)
    PeriodicTasks.objects.using(using).update_or_create(ident=1, defaults={"last_update": timezone.now()})
