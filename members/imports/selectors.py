"""Reads about imports: whose runs a user sees, and the rows an import page shows."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db.models import QuerySet

from members.imports.models import ImportRow, ImportRun

#: A run in one of these states can be started again; the job takes the rows not done yet, and
#: two workers on one run take turns, so starting a run that is in fact still going is harmless.
RESUMABLE = (ImportRun.Status.QUEUED, ImportRun.Status.RUNNING, ImportRun.Status.FAILED)


def sees_every_run(user: Any) -> bool:
    """Operators see (and may resume) every import; store staff only the ones they uploaded."""
    return user.is_superuser or user.has_perm("members.browse_member")


def import_runs_of(user: Any, runs: QuerySet[ImportRun] | None = None) -> QuerySet[ImportRun]:
    """The runs ``user`` may see (of ``runs``, default all)."""
    runs = ImportRun.objects.all() if runs is None else runs
    return runs if sees_every_run(user) else runs.filter(created_by=user)


def first_rows(run: ImportRun, limit: int = 20) -> list[ImportRow]:
    return list(run.rows.order_by("number")[:limit])


def rejected_rows(run: ImportRun) -> QuerySet[ImportRow]:
    return run.rows.filter(state=ImportRow.State.REJECTED).order_by("number")


def review_rows(run: ImportRun) -> QuerySet[ImportRow]:
    """Rows to import (or imported) whose points the preview expects to wait for an approver."""
    states = [ImportRow.State.PENDING, ImportRow.State.DONE]
    return run.rows.filter(state__in=states, review__isnull=False).order_by("number")


#: Point type names by code, in the programme's order: the points app registers the lookup
#: (members sits below it and knows point types only by their codes).
POINT_TYPE_NAMES: list[Callable[[Iterable[str]], dict[str, str]]] = []


def points_awarded(run: ImportRun) -> list[tuple[str, int]]:
    """(point type name, points) of what a run awarded: "积分", not "points". Keys that name
    no point type (runs before coupon lines were left out of the totals) are not shown."""
    shown = run.points_awarded.items()
    awarded: dict[str, int] = {code: amount for code, amount in shown if code not in ("", "null", "None")}
    names: dict[str, str] = {}
    for lookup in POINT_TYPE_NAMES:
        names.update(lookup(awarded))
    ordered = [code for code in names if code in awarded] + sorted(set(awarded) - set(names))
    return [(names.get(code, code), awarded[code]) for code in ordered]
