"""The scheduled jobs' commands run them once (the schedules themselves: tests/test_schedules.py)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_run_tier_jobs_and_run_benefit_jobs_report_what_they_did(ladder):
    out = StringIO()
    call_command("run_tier_jobs", stdout=out)
    call_command("run_benefit_jobs", stdout=out)
    assert out.getvalue().splitlines() == [
        "0 subscriptions expired, 0 overrides ended, 0 tier reviews.",
        "0 coupons issued, 0 coupons expired.",
    ]
