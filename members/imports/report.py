"""The migration report (数据迁移对账): an old CRM's file against what its run posted, on the
run's page and as a CSV or XLSX download for whoever signs off the move (finance).

The numbers are ``members.imports.legacy.reconciliation``'s; this only lays them out.
"""

from __future__ import annotations

import tablib
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _

from config.common.exports import neutralise_dataset
from members.imports.legacy import LEGACY, Report, reconciliation
from members.imports.models import ImportRun

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def report_of(run: ImportRun) -> Report | None:
    """The report of a run of an old CRM's file (None for other imports)."""
    return reconciliation(run) if run.profile.kind in LEGACY else None


def report_table(report: Report) -> tablib.Dataset:
    table = tablib.Dataset(
        headers=[
            _("total"),
            _("in the file"),
            _("brought in by this import"),
            _("held in the system from this import"),
            _("brought in before"),
            _("rejected"),
            _("not imported yet"),
            _("balanced"),
        ],
        title=_("Migration report"),
    )
    for line in report.lines:
        table.append(
            [
                line.label,
                line.in_file,
                line.posted,
                line.held,
                line.already,
                line.rejected,
                line.waiting,
                _("yes") if line.balanced else _("no"),
            ]
        )
    return table


def report_download(request: HttpRequest, run: ImportRun, fmt: str) -> HttpResponse:
    report = report_of(run)
    if report is None or fmt not in FORMATS:
        raise Http404
    table = neutralise_dataset(report_table(report))
    if report.unreadable:
        note = _("%(count)d rejected rows could not be read and are in no total: see the rejected rows.")
        table.append([note % {"count": report.unreadable}, *[""] * (table.width - 1)])
    data = table.export("xlsx") if fmt == "xlsx" else "\ufeff" + table.export("csv")
    response = HttpResponse(data, content_type=FORMATS[fmt])
    name = f"migration-report-{run.pk}.{fmt}"
    disposition = content_disposition_header(True, name)
    assert disposition is not None
    response["Content-Disposition"] = disposition
    return response
