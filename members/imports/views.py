"""The imports' own admin pages: upload, preview, progress and result (the column mapper is
``members.imports.mapper_views``).

Each is an interface only: the upload calls ``import_preview``, the confirm button
``import_confirm``, cancel ``import_cancel``, resume ``job_start``; the pages read what the
preview staged and the job counted. Whatever a service refuses comes back on the form or as a
message, never as an error page. Store staff reach only the runs they uploaded (404 otherwise),
because every run is looked up through the admin's scoped queryset.
"""

from __future__ import annotations

import datetime
from pathlib import PurePath
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import content_disposition_header, urlencode
from django.utils.translation import gettext as _

from members import masking
from members.imports import runner
from members.imports.files import column_labels, rejected_rows_csv, row_message
from members.imports.forms import (
    UploadForm,
)
from members.imports.mapping import STATUSES
from members.imports.models import ImportProfile, ImportRow, ImportRun
from members.imports.report import report_download, report_of
from members.imports.selectors import (
    RESUMABLE,
    first_rows,
    points_awarded,
    rejected_rows,
    review_rows,
    sees_every_run,
)
from members.imports.services import import_cancel, import_preview
from members.imports.targets import TARGETS

PREVIEW_ROWS = 20
REJECTED_ON_PAGE = 50
REJECTED_PER_PAGE = 100
#: The page offers "resume" once the job has shown no progress for this long.
STALL_SECONDS = 60

RUN_URL = "admin:imports_importrun_change"


def _url(name: str, run: ImportRun) -> str:
    return reverse(f"admin:imports_importrun_{name}", args=[run.pk])


def page_context(request: HttpRequest, model_admin, title: str, **extra: Any) -> dict[str, Any]:
    return {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.model._meta,
        **extra,
    }


def _post_only(request: HttpRequest) -> HttpResponse | None:
    return None if request.method == "POST" else HttpResponseNotAllowed(["POST"])


def _run_for(request: HttpRequest, model_admin, object_id: str) -> ImportRun:
    """The run, if the user may see it: staff only their own (404 for anybody else's)."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    run = model_admin.get_object(request, object_id)
    if run is None:
        raise Http404
    return run


def _may_import(request: HttpRequest) -> None:
    if not request.user.has_perm("imports.import_file"):
        raise PermissionDenied


def _refusal(exc: ValidationError) -> str:
    return " ".join(exc.messages)


# --- upload --------------------------------------------------------------------------------


def upload_view(request: HttpRequest, model_admin) -> HttpResponse:
    _may_import(request)
    posted = request.method == "POST"
    form = UploadForm(request.POST if posted else None, request.FILES if posted else None, user=request.user)
    if not posted and (code := request.GET.get("profile")):  # e.g. the member list's import link
        form.initial["profile"] = ImportProfile.objects.filter(code=code, active=True).first()
    if posted and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            run = import_preview(
                profile=form.cleaned_data["profile"],
                data=upload.read(),
                file_name=PurePath(upload.name).name,
                user=request.user,
                store=form.cleaned_data["store"],
                target_id=form.cleaned_data.get("target") or None,
            )
        except ValidationError as exc:
            field = {"store": "store", "profile": "profile", "target": "target"}.get(exc.code or "", "file")
            form.add_error(field if field in form.fields else None, exc)
        else:
            model_admin.log_addition(request, run, [{"added": {}}])
            return HttpResponseRedirect(reverse(RUN_URL, args=[run.pk]))
    context = page_context(
        request,
        model_admin,
        _("Import a file"),
        form=form,
        media=model_admin.media + form.media,
        profiles_url=(
            reverse("admin:imports_importprofile_changelist")
            if request.user.has_perm("imports.view_importprofile")
            else None
        ),
    )
    return TemplateResponse(request, "admin/imports/upload.html", context)


# --- one run: preview, progress, result ----------------------------------------------------


def _local(text: str) -> str:
    moment = parse_datetime(text) if isinstance(text, str) else None
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M:%S}" if moment else text


#: An old CRM's dates (``members.imports.legacy``): when it started, and when it ends (a date
#: alone was staged as the next midnight: it reads as the last day again).
STARTS, ENDS = ("earned_at", "valid_from"), ("expires_at", "valid_until")


def _day(text: str, *, end: bool) -> str:
    moment = parse_datetime(text) if isinstance(text, str) else None
    if moment is None:
        return text
    local = timezone.localtime(moment)
    if local.time() != datetime.time(0):
        return f"{local:%Y-%m-%d %H:%M}"
    return f"{local - datetime.timedelta(days=1) if end else local:%Y-%m-%d}"


def cell(field: str, values: dict[str, Any]) -> str:
    """A staged value as the operator reads it: times local, statuses in words."""
    if field == "paid_at":  # the parser keeps the time a row earns at as occurred_at
        field = "occurred_at"
    value = values.get(field)
    if value is None:
        return ""
    if field in ("occurred_at", "ordered_at"):
        return _local(value)
    if field in STARTS or field in ENDS:
        return _day(value, end=field in ENDS)
    if field == "status" and value in STATUSES:
        return str(STATUSES[value])
    return str(value)


def _labels(run: ImportRun) -> dict[str, str]:
    """The file's own column names; an empty dict when the file is gone from storage."""
    try:
        return column_labels(run)
    except (OSError, ValueError):
        return {}


#: How a staged value of a personal field is shown to users without ``view_member_pii``.
MASKED_CELLS = {
    "mobile": masking.mask_phone,
    "name": masking.mask_name,
    "email": masking.mask_email,
    "unionid": masking.mask_identifier,
    "birthday": lambda text: f"****{text[4:]}" if len(text) > 4 else "*" * len(text),
}


def shown_as(user) -> Any:
    """``(field, text) -> text`` as ``user`` may read it: in full, or personal data masked
    (the fields that hold it, and phones or e-mails anywhere else, e.g. in a reason)."""
    if masking.can_view_pii(user):
        return lambda field, text: text
    return lambda field, text: masking.mask_text(MASKED_CELLS.get(field, str)(text)) if text else text


def rows_table(
    run: ImportRun, labels: dict[str, str], rows: list[ImportRow], user: Any = None
) -> list[dict[str, Any]]:
    show = shown_as(user)
    return [
        {
            "number": row.number,
            "state": row.state,
            "state_label": row.get_state_display(),
            "cells": [show(field, cell(field, row.values)) for field in labels] if row.values else None,
            "message": show("", "; ".join(filter(None, [row_message(row, labels), row.review_message]))),
        }
        for row in rows
    ]


#: Reasons that say a row names several existing members: the person may be one, to merge.
TWO_PEOPLE = ("taken", "two_members")


def merge_url(row: ImportRow, user: Any) -> str:
    """The merge page (OneID) for the members a row was rejected for naming, when it names two or
    more and the user may ask for merges; else ""."""
    if user is None or not user.has_perm("oneid.add_membermerge"):
        return ""
    numbers: list[str] = []
    for items in (row.errors or {}).values():
        for item in items:
            if isinstance(item, dict) and item.get("code") in TWO_PEOPLE:
                for *_named, number in (item.get("params") or {}).get("owners") or []:
                    if number not in numbers:
                        numbers.append(number)
    if len(numbers) < 2:
        return ""
    query = urlencode({"survivor": numbers[0], "absorbed": " ".join(numbers[1:])})
    return f"{reverse('admin:oneid_membermerge_add')}?{query}"


def rejected_context(run: ImportRun, labels: dict[str, str], user: Any = None) -> dict[str, Any]:
    show = shown_as(user)
    shown = list(rejected_rows(run)[: REJECTED_ON_PAGE + 1])
    return {
        "rejected": [
            (row.number, show("", row_message(row, labels)), merge_url(row, user))
            for row in shown[:REJECTED_ON_PAGE]
        ],
        "rejected_more": len(shown) > REJECTED_ON_PAGE,
        "rejected_url": _url("rejected", run),
        "rejected_csv_url": _url("rejected_csv", run),
        "review": [(row.number, row.review_message) for row in review_rows(run)[:REJECTED_ON_PAGE]],
    }


def store_fix_context(request: HttpRequest, run: ImportRun) -> dict[str, Any]:
    """Where an operator fixes rows rejected for an unknown store code: the profile's store code
    mapping, or a new store. Links only to pages the user may open."""
    rejected = run.rows.filter(state=ImportRow.State.REJECTED)
    unknown = rejected.filter(
        Q(errors__store_code__0__code="unknown_store")
        | Q(errors__registration_store__0__code="unknown_store")
    ).exists()
    if not unknown:
        return {"unknown_stores": False}
    user = request.user
    return {
        "unknown_stores": True,
        "store_codes_url": (
            reverse("admin:imports_importprofile_change", args=[run.profile_id]) + "#id_store_codes"
            if user.has_perm("imports.change_importprofile")
            else None
        ),
        "store_add_url": reverse("admin:members_store_add") if user.has_perm("members.add_store") else None,
    }


def number(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def rows_text(progress: dict[str, Any]) -> str:
    return _("%(done)s of %(total)s rows") % {
        "done": number(progress["rows_done"]),
        "total": number(progress["rows_total"]),
    }


def rate_text(progress: dict[str, Any]) -> str:
    rate = progress["rows_per_second"]
    return _("%(rate)s rows per second") % {"rate": number(rate, 1)} if rate else ""


def left_text(progress: dict[str, Any]) -> str:
    left = progress["seconds_left"]
    if left is None:
        return ""
    minutes, seconds = divmod(int(left), 60)
    if minutes:
        return _("about %(minutes)s min %(seconds)s s left") % {"minutes": minutes, "seconds": seconds}
    return _("about %(seconds)s s left") % {"seconds": seconds}


def run_view(request: HttpRequest, model_admin, object_id: str) -> HttpResponse:
    """The run's one page: its preview until confirmed, then the progress bar, then the result."""
    run = _run_for(request, model_admin, object_id)
    run = ImportRun.objects.select_related("profile", "store", "created_by", "confirmed_by").get(pk=run.pk)
    labels = _labels(run)
    user = request.user
    context = page_context(
        request,
        model_admin,
        str(run),
        original=run,
        run=run,
        target_name=_target_name(run),
        labels=list(labels.values()),
        can_import=user.has_perm("imports.import_file"),
        **rejected_context(run, labels, user),
        report=report_of(run),
        report_urls=[(fmt.upper(), f"{_url('report', run)}?format={fmt}") for fmt in ("xlsx", "csv")],
        **store_fix_context(request, run),
    )
    if run.status == ImportRun.Status.PREVIEWED:
        context.update(
            rows=rows_table(run, labels, first_rows(run, PREVIEW_ROWS), user),
            preview_rows=PREVIEW_ROWS,
            confirm_url=_url("confirm", run),
            cancel_url=_url("cancel", run),
        )
        return TemplateResponse(request, "admin/imports/preview.html", context)
    progress = run.progress()
    context.update(
        progress=progress,
        rows_text=rows_text(progress),
        rate_text=rate_text(progress),
        left_text=left_text(progress),
        progress_url=_url("progress", run),
        stall_seconds=STALL_SECONDS,
        points=points_awarded(run),
        resume_url=_url("resume", run),
        can_resume=run.status in RESUMABLE and sees_every_run(user) and user.has_perm("imports.import_file"),
    )
    return TemplateResponse(request, "admin/imports/run.html", context)


def _target_name(run: ImportRun) -> str:
    """The list a run of members for a list goes into, by name ("" for other runs)."""
    target = TARGETS.get(run.profile.kind)
    return target.name(run.target_id) if target is not None and run.target_id is not None else ""


def progress_view(request: HttpRequest, model_admin, object_id: str) -> JsonResponse:
    """What the progress bar polls: ``ImportRun.progress()`` and its texts."""
    run = _run_for(request, model_admin, object_id)
    progress = run.progress()
    texts = {
        "rows_text": rows_text(progress),
        "rate_text": rate_text(progress),
        "left_text": left_text(progress),
    }
    return JsonResponse({**progress, **texts})


def confirm_view(request: HttpRequest, model_admin, object_id: str) -> HttpResponse:
    if refused := _post_only(request):
        return refused
    _may_import(request)
    run = _run_for(request, model_admin, object_id)
    if run.status == ImportRun.Status.CANCELLED:
        messages.error(request, _("This import was cancelled; upload the file again to import it."))
        return HttpResponseRedirect(reverse(RUN_URL, args=[run.pk]))
    if not run.rows_ok:
        messages.error(request, _("Nothing in this file can be imported."))
        return HttpResponseRedirect(reverse(RUN_URL, args=[run.pk]))
    try:
        run = runner.import_confirm(run=run, user=request.user)
    except ValidationError as exc:
        messages.error(request, _refusal(exc))
    else:
        model_admin.log_change(request, run, _("Confirmed the import."))
        messages.success(request, _("The import has started; this page shows how far it is."))
    return HttpResponseRedirect(reverse(RUN_URL, args=[run.pk]))


def cancel_view(request: HttpRequest, model_admin, object_id: str) -> HttpResponse:
    if refused := _post_only(request):
        return refused
    _may_import(request)
    run = _run_for(request, model_admin, object_id)
    try:
        run = import_cancel(run=run, user=request.user)
    except ValidationError as exc:
        messages.error(request, _refusal(exc))
    else:
        model_admin.log_change(request, run, _("Cancelled the import."))
        messages.success(request, _("The import was cancelled: nothing of the file was imported."))
    return HttpResponseRedirect(reverse(RUN_URL, args=[run.pk]))


def resume_view(request: HttpRequest, model_admin, object_id: str) -> HttpResponse:
    """Start the job of a run again (its worker died, or it failed and the cause is fixed)."""
    if refused := _post_only(request):
        return refused
    _may_import(request)
    if not sees_every_run(request.user):
        raise PermissionDenied
    run = _run_for(request, model_admin, object_id)
    if run.status not in RESUMABLE:
        messages.error(request, _("Only a queued, running or failed import can be resumed."))
    else:
        runner.job_start(run.pk)
        model_admin.log_change(request, run, _("Resumed the import."))
        messages.success(request, _("The import goes on from the first row not imported yet."))
    return HttpResponseRedirect(reverse(RUN_URL, args=[run.pk]))


def rejected_view(request: HttpRequest, model_admin, object_id: str) -> HttpResponse:
    """Every rejected row of a run, a hundred a page."""
    run = _run_for(request, model_admin, object_id)
    labels = _labels(run)
    page = Paginator(rejected_rows(run), REJECTED_PER_PAGE).get_page(request.GET.get("page"))
    context = page_context(
        request,
        model_admin,
        _("Rejected rows of %(run)s") % {"run": run},
        original=run,
        run=run,
        page=page,
        rows=[
            (row.number, shown_as(request.user)("", row_message(row, labels)), merge_url(row, request.user))
            for row in page.object_list
        ],
        original_url=reverse(RUN_URL, args=[run.pk]),
        rejected_csv_url=_url("rejected_csv", run),
        **store_fix_context(request, run),
    )
    return TemplateResponse(request, "admin/imports/rejected.html", context)


def rejected_name(file_name: str) -> str:
    return f"{PurePath(file_name).stem or 'import'}-rejected.csv"


def rejected_csv_view(request: HttpRequest, model_admin, object_id: str) -> HttpResponse:
    """The rejected rows as the file had them, with the reason in an extra column."""
    run = _run_for(request, model_admin, object_id)
    try:
        data = rejected_rows_csv(run)
    except (OSError, ValueError):
        messages.error(
            request, _("The uploaded file is no longer stored; its rejected rows are listed here.")
        )
        return HttpResponseRedirect(_url("rejected", run))
    response = HttpResponse(data, content_type="text/csv; charset=utf-8")
    disposition = content_disposition_header(True, rejected_name(run.file_name))
    assert disposition is not None  # only an inline response without a name has none
    response["Content-Disposition"] = disposition
    return response


def report_view(request: HttpRequest, model_admin, object_id: str) -> HttpResponse:
    """The migration report of an old CRM's file as XLSX or ``?format=csv`` (``members.imports.report``)."""
    run = _run_for(request, model_admin, object_id)
    return report_download(request, run, request.GET.get("format", "xlsx"))
