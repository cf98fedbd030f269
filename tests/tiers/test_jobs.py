"""The scheduled jobs: every beat entry names a real task, and the commands run them once."""

from __future__ import annotations

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils.module_loading import import_string

pytestmark = pytest.mark.django_db


def test_every_scheduled_task_exists():
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        task = import_string(entry["task"])
        assert task.name == entry["task"]


def test_run_tier_jobs_and_run_benefit_jobs_report_what_they_did(ladder):
    out = StringIO()
    call_command("run_tier_jobs", stdout=out)
    call_command("run_benefit_jobs", stdout=out)
    assert out.getvalue().splitlines() == [
        "0 subscriptions expired, 0 overrides ended, 0 tier reviews.",
        "0 coupons issued, 0 coupons expired.",
    ]
