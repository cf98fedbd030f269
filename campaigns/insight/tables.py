"""Tables behind the insight pages: shown under each chart, and downloaded as CSV or XLSX.

Downloads keep numbers as numbers: CSV writes them plain, XLSX as numeric cells with a number
format (thousands separators, two decimals for CNY, percent for shares), so finance can add
them up without converting text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from openpyxl import Workbook

from config.common.exports import neutralise_formula
from config.common.formats import money, percent, whole

TEXT, COUNT, CNY, PERCENT, POINTS = "text", "count", "cny", "percent", "points"

_XLSX_FORMATS = {COUNT: "#,##0", POINTS: "#,##0", CNY: "#,##0.00", PERCENT: "0.0%"}


@dataclass
class Table:
    title: str
    columns: list[tuple[str, str]]  # (header, kind)
    rows: list[Sequence[Any]] = field(default_factory=list)

    @property
    def headers(self) -> list[str]:
        return [str(h) for h, _kind in self.columns]

    def shown(self) -> list[list[str]]:
        """Rows as people read them: 1,234 and 12,345.68 and 12.3%."""
        return [
            [_show(cell, kind) for cell, (_h, kind) in zip(row, self.columns, strict=True)]
            for row in self.rows
        ]


def _show(cell: Any, kind: str) -> str:
    if cell is None:
        return "—"
    if kind in (COUNT, POINTS):
        return whole(cell)
    if kind == CNY:
        return money(cell)
    if kind == PERCENT:
        return percent(cell)
    return str(cell)


def _number(cell: Any) -> Any:
    return float(cell) if isinstance(cell, Decimal) else cell


def download(tables: list[Table], fmt: str, name: str) -> HttpResponse:
    stamp = timezone.localdate().isoformat()
    if fmt == "xlsx":
        book = Workbook()
        book.remove(book.active)
        for table in tables:
            sheet = book.create_sheet(title=table.title[:31] or "Sheet")
            sheet.append(table.headers)
            for row in table.rows:
                sheet.append(
                    [
                        neutralise_formula(c) if kind == TEXT else _number(c)
                        for c, (_h, kind) in zip(row, table.columns, strict=True)
                    ]
                )
            for index, (_h, kind) in enumerate(table.columns, start=1):
                if kind in _XLSX_FORMATS:
                    for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                        cell.number_format = _XLSX_FORMATS[kind]
        out = io.BytesIO()
        book.save(out)
        response = HttpResponse(
            out.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
    else:
        text = io.StringIO()
        writer = csv.writer(text)
        for number, table in enumerate(tables):
            if number:
                writer.writerow([])
            if len(tables) > 1:
                writer.writerow([table.title])
            writer.writerow(table.headers)
            for row in table.rows:
                writer.writerow(
                    [
                        neutralise_formula(c) if kind == TEXT else ("" if c is None else c)
                        for c, (_h, kind) in zip(row, table.columns, strict=True)
                    ]
                )
        # Excel on Chinese Windows reads UTF-8 only after a BOM
        response = HttpResponse(
            ("\ufeff" + text.getvalue()).encode("utf-8"), content_type="text/csv; charset=utf-8"
        )
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.{fmt}"'
    return response
