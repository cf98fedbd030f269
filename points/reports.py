"""The liability report as tables (for the admin page and its CSV/XLSX download).

Downloads keep the numbers as numbers (a spreadsheet sums them); the page shows them as finance
reads them: ``1,234,567`` points, ``12,345.68`` CNY, ``<0.1%`` breakage (``config.common.formats``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tablib
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from config.common.exports import neutralise_dataset
from config.common.formats import money, percent, whole
from points.selectors import Liability


@dataclass(frozen=True)
class LiabilityTables:
    summary: tablib.Dataset
    by_month: tablib.Dataset

    def __iter__(self):
        return iter((self.summary, self.by_month))


def liability_tables(liability: Liability) -> LiabilityTables:
    summary = tablib.Dataset(
        headers=[
            _("point type"),
            _("outstanding points"),
            _("value (CNY)"),
            _("breakage rate"),
            _("expected cost (CNY)"),
        ],
        title=_("Summary"),
    )
    names = {row.point_type.code: row.point_type.name for row in liability.rows}
    for code, points in liability.outstanding_points.items():
        summary.append(
            [
                names.get(code, code),
                points,
                liability.outstanding_value[code],
                percent(liability.breakage_rate[code]),
                liability.expected_cost[code],
            ]
        )
    by_month = tablib.Dataset(
        headers=[_("point type"), _("expires in"), _("points"), _("value (CNY)")], title=_("By expiry month")
    )
    for row in liability.rows:
        month = row.expiry_month.strftime("%Y-%m") if row.expiry_month else _("never")
        by_month.append([row.point_type.name, month, row.points, row.value])
    return LiabilityTables(summary, by_month)


#: How the page shows each column of the tables above, in their order.
_PAGE_FORMATS: dict[int, list[Callable[[Any], str]]] = {
    0: [str, whole, money, str, money],  # summary
    1: [str, str, whole, money],  # by expiry month
}


def page_tables(report: LiabilityTables) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, headers, rows) with every number formatted for reading."""
    return [
        (
            table.title,
            list(table.headers),
            [[fmt(cell) for fmt, cell in zip(_PAGE_FORMATS[index], row, strict=True)] for row in table],
        )
        for index, table in enumerate(report)
    ]


def export_response(report: LiabilityTables, fmt: str) -> HttpResponse:
    stamp = timezone.localdate().isoformat()
    for table in report:
        neutralise_dataset(table)  # point type names are typed by operators
    if fmt == "xlsx":
        book = tablib.Databook([report.summary, report.by_month])
        response = HttpResponse(
            book.export("xlsx"),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    else:
        # Excel on Chinese Windows needs the BOM to read UTF-8; one file, two tables.
        text = report.summary.export("csv") + "\r\n" + report.by_month.export("csv")
        response = HttpResponse(("\ufeff" + text).encode("utf-8"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="points-liability-{stamp}.{fmt}"'
    return response
