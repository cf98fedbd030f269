"""The import job: staged rows in, members, purchases, refunds and points out.

Rows are taken in chunks, sales before returns. Each chunk is one transaction that locks the
run, takes the rows still pending, records what they say, has the earning pipeline process the
new facts, and marks the rows done together with the run's counters. So:
- a job killed at any moment loses nothing and doubles nothing: the next run of it starts at
  the first row not done, and the counters are exactly those of the rows done;
- two workers on one run take turns chunk by chunk and never take the same rows.
A chunk that fails as a whole (a concurrent import of the same receipts, a bug) is rolled back
and done again row by row, each row alone: the row at fault is rejected with the reason, the
others go in.

What the rows become is ``apply.py``; the pipeline (campaigns, a higher app) registers itself
in ``apply.PROCESSORS``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, close_old_connections, reset_queries, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.common.bulk import bulk_set
from config.common.errors import BusinessRuleError
from members.imports.apply import Job, Totals, apply_rows, reject
from members.imports.models import ImportRow, ImportRun
from members.imports.reasons import reason
from members.imports.services import profile_of

logger = logging.getLogger(__name__)

CHUNK = 500
State = ImportRow.State


# --- starting and running ------------------------------------------------------------------


def import_confirm(*, run: ImportRun, user: Any = None, start: bool = True) -> ImportRun:
    """Queue a previewed import; the job starts once this transaction commits."""
    with transaction.atomic():
        run = ImportRun.objects.select_for_update().get(pk=run.pk)
        if not ImportRun.MOVES.allows(run.status, ImportRun.Status.QUEUED):
            raise ValidationError(_("This import was already confirmed."), code="confirmed")
        run.status = ImportRun.Status.QUEUED
        run.confirmed_by = user if getattr(user, "pk", None) else None
        run.save(update_fields=["status", "confirmed_by"])
        if start:
            transaction.on_commit(lambda: job_start(run.pk))
    return run


def job_start(run_id: int) -> None:
    """A Celery task when a broker is configured; else a thread of this process (``make run``
    has no worker, and the progress bar must move while the page polls)."""
    if settings.CELERY_BROKER_URL:
        from members.imports.tasks import run_import

        run_import.delay(run_id)
    else:
        threading.Thread(target=_thread_main, args=(run_id,), daemon=True).start()


def _thread_main(run_id: int) -> None:
    try:
        import_run_execute(run_id)
    finally:
        close_old_connections()


def import_run_execute(
    run_id: int, *, chunk_size: int = CHUNK, on_chunk: Callable | None = None
) -> ImportRun:
    """Import every pending row of a run; safe to call again on a run that was interrupted."""
    run = ImportRun.objects.get(pk=run_id)
    if not ImportRun.MOVES.allows(run.status, ImportRun.Status.RUNNING):
        return run  # done, cancelled, or never confirmed: nothing to run
    ImportRun.objects.filter(ImportRun.MOVES.may_move_to(ImportRun.Status.RUNNING), pk=run_id).update(
        status=ImportRun.Status.RUNNING, started_at=run.started_at or timezone.now(), error=""
    )
    job = Job(profile_of(run.profile), {key: group for group in run.enrol_groups for key in group})
    try:
        while _chunk(run_id, job, chunk_size):
            reset_queries()  # with DEBUG on, Django keeps every statement of this long job
            if on_chunk:
                on_chunk(ImportRun.objects.get(pk=run_id))
    except Exception as exc:  # a bug or the database gone: the run says so; rows done stay done
        logger.exception("import run %s failed", run_id)
        failed = ImportRun.objects.filter(ImportRun.MOVES.may_move_to(ImportRun.Status.FAILED), pk=run_id)
        failed.update(status=ImportRun.Status.FAILED, error=str(exc)[:2000])
        raise
    done = ImportRun.objects.filter(ImportRun.MOVES.may_move_to(ImportRun.Status.DONE), pk=run_id)
    done.update(status=ImportRun.Status.DONE, finished_at=timezone.now())
    return ImportRun.objects.get(pk=run_id)


def _chunk(run_id: int, job: Job, size: int) -> bool:
    """Do one chunk; False when nothing was pending."""
    started = time.monotonic()
    try:
        with transaction.atomic():
            run = ImportRun.objects.select_for_update().get(pk=run_id)
            rows = _pending(run, size)
            if not rows:
                return False
            totals = apply_rows(run, job, rows)
            _save(run, rows, totals, time.monotonic() - started)
        return True
    except (ValidationError, BusinessRuleError, IntegrityError):
        # Anything else is a bug or an outage: the run fails with its rows left pending, to resume.
        logger.warning("import run %s: a chunk failed, doing it row by row", run_id, exc_info=True)
    with transaction.atomic():
        run = ImportRun.objects.select_for_update().get(pk=run_id)
        rows = _pending(run, size)
        totals = Totals()
        for row in rows:
            try:
                with transaction.atomic():
                    totals += apply_rows(run, job, [row])
            except (ValidationError, BusinessRuleError) as exc:
                reject(row, exc)
            except IntegrityError as exc:  # a concurrent import wrote the same receipt or person
                logger.warning("import run %s row %s: %s", run_id, row.number, exc)
                row.state, row.errors = State.REJECTED, {"": [reason("conflict")]}
                row.member_id = row.purchase_id = row.refund_id = None
        _save(run, rows, totals, time.monotonic() - started)
    return True


def _pending(run: ImportRun, size: int) -> list[ImportRow]:
    return list(run.rows.filter(state=State.PENDING).order_by("phase", "number")[:size])


def _save(run: ImportRun, rows: list[ImportRow], totals: Totals, seconds: float) -> None:
    for row in rows:
        if row.state == State.PENDING:
            row.state = State.DONE
    _save_rows(rows)
    states = Counter(row.state for row in rows)
    points = Counter(run.points_awarded)
    points.update(totals.points)
    run.rows_done += len(rows)
    run.rows_duplicate += states[State.DUPLICATE]
    run.rows_rejected += states[State.REJECTED]
    run.purchases_created += totals.purchases
    run.refunds_created += totals.refunds
    run.members_created += totals.members
    run.members_listed += totals.listed
    run.points_awarded = {code: int(amount) for code, amount in points.items()}
    run.busy_seconds += seconds
    run.save(
        update_fields=[
            "rows_done",
            "rows_duplicate",
            "rows_rejected",
            "purchases_created",
            "refunds_created",
            "members_created",
            "members_listed",
            "points_awarded",
            "busy_seconds",
        ]
    )


def _save_rows(rows: list[ImportRow]) -> None:
    """The rows' outcome: state and ids for every row (``bulk_set``); the messages of rows the
    job rejected or found duplicate, few, through bulk_update (a done row keeps the preview's
    warnings as they are)."""
    bulk_set(rows, ["state", "member_id", "purchase_id", "refund_id"])
    ImportRow.objects.bulk_update([row for row in rows if row.state != State.DONE], ["errors"])
