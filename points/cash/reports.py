"""The points-as-cash report for finance (a tender like cash or cards): per store and day, what
points paid at the tills and what refunds gave back, as a table for the admin page and the same
figures as CSV/XLSX. Downloads keep numbers as numbers; the page formats them for reading."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import tablib
from django.http import HttpResponse
from django.utils.translation import gettext as _

from config.common.exports import neutralise_dataset
from config.common.formats import money, whole
from points.cash.selectors import CashDay


def cash_table(days: list[CashDay]) -> tablib.Dataset:
    """One row per store and day (newest first), then the totals."""
    table = tablib.Dataset(
        headers=[
            _("day"),
            _("store code"),
            _("store"),
            _("payments"),
            _("points paid"),
            _("CNY paid"),
            _("refunds"),
            _("points given back"),
            _("CNY given back"),
            _("net points"),
            _("net CNY"),
        ],
        title=_("Points as cash"),
    )
    for day in days:
        store = day.store
        table.append(
            [
                day.day.isoformat(),
                store.code if store else "",
                store.name if store else _("online (no store)"),
                day.payments,
                day.points,
                day.value,
                day.refunds,
                day.points_back,
                day.value_back,
                day.net_points,
                day.net_value,
            ]
        )
    if days:
        sums = [sum(row[i] for row in table) for i in range(3, 11)]
        table.append([_("total"), "", "", *sums])
    return table


#: how the page shows each column
_FORMATS: list[Callable[[Any], str]] = [str, str, str, whole, whole, money, whole, whole, money, whole, money]


def page_rows(table: tablib.Dataset) -> list[list[str]]:
    return [[fmt(cell) for fmt, cell in zip(_FORMATS, row, strict=True)] for row in table]


def export_response(
    table: tablib.Dataset, fmt: str, first: datetime.date, last: datetime.date
) -> HttpResponse:
    neutralise_dataset(table)  # store names are typed by operators
    if fmt == "xlsx":
        response = HttpResponse(
            table.export("xlsx"),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    else:  # Excel on Chinese Windows needs the BOM to read UTF-8
        response = HttpResponse(
            ("\ufeff" + table.export("csv")).encode("utf-8"), content_type="text/csv; charset=utf-8"
        )
    response["Content-Disposition"] = f'attachment; filename="points-as-cash-{first}-{last}.{fmt}"'
    return response
