"""What each scheduled job does, in the words the admin's list of schedules (周期任务) shows.

The schedules are rows of django-celery-beat, created by a data migration
(campaigns/migrations/0003_job_schedules.py) and edited by administrators in the admin. Tasks
are named by stable strings (``points.activate_due_lots``), not module paths, so a module can
move without orphaning its schedule. A task scheduled here needs a line below: a test fails
otherwise.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

JOBS: dict[str, Promise] = {
    "partners.purge_idempotency_keys": _(
        "Forgets partners' stored answers to retried requests after 48 hours, and expired member codes."
    ),
    "points.activate_due_lots": _("Pending points whose return window has ended become available."),
    "points.expire_due_lots": _("Points past their expiry date expire."),
    "tiers.expire_due_subscriptions": _("Paid memberships whose period has ended stop."),
    "tiers.end_due_overrides": _("Manual tier overrides end on their end date."),
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
    "imports.run_import": _("Runs a confirmed import (queued by the import page, not scheduled)."),
}


def job_description(task_name: str) -> str:
    return str(JOBS.get(task_name, ""))
