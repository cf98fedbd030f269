"""The scheduled jobs are rows an administrator edits (django-celery-beat), created by a data
migration with the times the jobs always had, each naming a real task that says what it does."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from config.celery import app
from config.common.jobs import JOBS
from tests.conftest import login

pytestmark = pytest.mark.django_db


def schedules() -> dict[str, tuple[str, str]]:
    return {
        task.name: (task.task, f"{task.crontab.minute} {task.crontab.hour}")
        for task in PeriodicTask.objects.select_related("crontab")
    }


def test_the_migration_schedules_every_job_at_its_time():
    assert schedules() == {
        "partners-purge-idempotency-keys": ("partners.purge_idempotency_keys", "30 3"),
        "points-activate-due-lots": ("points.activate_due_lots", "*/15 *"),
        "points-expire-due-lots": ("points.expire_due_lots", "5 0"),
        "points-release-expired-holds": ("points.release_expired_holds", "* *"),
        "tiers-expire-due-subscriptions": ("tiers.expire_due_subscriptions", "*/15 *"),
        "tiers-end-due-overrides": ("tiers.end_due_overrides", "*/15 *"),
        "tiers-expire-plan-orders": ("tiers.expire_plan_orders", "*/15 *"),
        "tiers-review-due": ("tiers.review_due_tiers", "15 0"),
        "benefits-issue-entitlements": ("benefits.issue_entitlements", "0 1"),
        "benefits-expire-due-coupons": ("benefits.expire_due_coupons", "30 *"),
        "campaigns-start-and-end-due": ("campaigns.start_and_end_due_campaigns", "*/5 *"),
        "campaigns-birthdays": ("campaigns.process_birthdays", "0 8"),
        "scoring-score-members": ("scoring.score_members", "20 1"),
        "insight-rollup-recent-days": ("insight.rollup_recent_days", "40 1"),
        "insight-rollup-today": ("insight.rollup_today", "*/10 *"),
        "insight-measure-campaigns": ("insight.measure_campaigns", "20 2"),
        "segments-apply-tag-rules": ("segments.apply_tag_rules", "40 2"),
        "journeys-run": ("journeys.run", "*/10 *"),
        "oneid-find-duplicates": ("oneid.find_duplicates", "50 3"),
        "privacy-purge-personal-data": ("privacy.purge_personal_data", "10 4"),
        "risk-scan": ("risk.scan", "30 2"),
        "messaging-send-due": ("messaging.send_due", "* *"),
        "webhooks-deliver-due": ("webhooks.deliver_due", "* *"),
        "points-announce-expiring": ("points.announce_expiring", "30 0"),
        "common-apply-due-changes": ("common.apply_due_changes", "* *"),
    }


def test_a_deploy_schedules_its_new_jobs_and_keeps_the_administrators_changes():
    from django_celery_beat.models import CrontabSchedule

    from config.common.jobs import schedules_ensure

    moved = PeriodicTask.objects.get(name="points-expire-due-lots")
    moved.crontab = CrontabSchedule.objects.create(minute="45", hour="2", timezone="Asia/Shanghai")
    moved.save()
    PeriodicTask.objects.filter(task="insight.rollup_today").delete()  # a job the old version lacked
    schedules_ensure()
    now = schedules()
    assert now["insight-rollup-today"] == ("insight.rollup_today", "*/10 *")
    assert now["points-expire-due-lots"] == ("points.expire_due_lots", "45 2")
    crontabs = PeriodicTask.objects.values_list("crontab__timezone", "crontab__day_of_week").distinct()
    assert [(str(zone), days) for zone, days in crontabs] == [("Asia/Shanghai", "*")]


def test_every_scheduled_task_is_registered_and_described():
    app.loader.import_default_modules()
    ours = {name for name in app.tasks if not name.startswith("celery.")}
    assert {task for task, _time in schedules().values()} | {"imports.run_import"} == ours
    # a task renamed or added without its line in config/common/jobs.py shows as "—" in the admin
    assert set(JOBS) == ours


def test_the_admin_lists_what_each_job_does_and_when_in_chinese(client, administrator):
    page = login(client, administrator).get(reverse("admin:django_celery_beat_periodictask_changelist"))
    text = page.content.decode()
    assert "退货期已过的待生效积分转为可用。" in text and "每 15 分钟 (Asia/Shanghai)" in text
    assert "在 00:05 (Asia/Shanghai)" in text  # points expire five minutes past midnight, local time


def test_an_administrator_moves_a_job_to_another_time(client, administrator):
    """The schedule a running beat reads is the row: editing it in the admin is the whole change."""
    job = PeriodicTask.objects.get(name="points-expire-due-lots")
    url = reverse("admin:django_celery_beat_periodictask_change", args=[job.pk])
    login(client, administrator)
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in ["name", "task", "enabled", "description"]}
    data |= {"regtask": job.task, "crontab": "", "start_time_0": "", "start_time_1": ""}
    assert client.post(url, data).status_code == 200  # a job needs a schedule: the form says so
    half_past_two = job.crontab.__class__.objects.create(minute="30", hour="2", timezone="Asia/Shanghai")
    response = client.post(url, data | {"crontab": half_past_two.pk})
    assert response.status_code == 302
    assert schedules()["points-expire-due-lots"] == ("points.expire_due_lots", "30 2")


def test_other_roles_do_not_see_the_schedules(client, operator):
    page = login(client, operator).get(reverse("admin:django_celery_beat_periodictask_changelist"))
    assert page.status_code == 403
