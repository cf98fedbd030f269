"""The membership fee revenue report as tables: the admin page and its CSV/XLSX download.

Downloads keep the amounts as numbers (a spreadsheet sums them); the page shows them as finance
reads them, ``12,345.68`` (``config.common.formats``).
"""

from __future__ import annotations

from decimal import Decimal

import tablib
from django.http import HttpResponse
from django.utils.translation import gettext as _

from config.common.exports import neutralise_dataset
from config.common.formats import money, whole
from tiers.revenue import Movements, Schedule, ToDate, all_plans_label


def revenue_tables(schedule: Schedule) -> list[tablib.Dataset]:
    months = tablib.Dataset(
        headers=[
            _("month"),
            _("plan"),
            _("opening deferred"),
            _("payments received"),
            _("revenue recognised"),
            _("refunds"),
            _("closing deferred"),
        ],
        title=_("By month"),
    )

    def cells(row: Movements) -> list[Decimal]:
        return [row.opening, row.received, row.recognised, row.refunded, row.closing]

    for month in schedule.months:
        label = f"{month:%Y-%m}"
        for plan_id, name in schedule.plans.items():
            months.append([label, name, *cells(schedule.month(month, plan_id))])
        months.append([label, all_plans_label(), *cells(schedule.month(month))])
    last = f"{schedule.months[-1]:%Y-%m}"
    check = tablib.Dataset(
        headers=[
            _("plan"),
            _("periods paid"),
            _("payments to %(month)s") % {"month": last},
            _("recognised"),
            _("refunded"),
            _("deferred"),
            _("difference"),
        ],
        title=_("Reconciliation"),
    )

    def totals(row: ToDate) -> list[Decimal | int]:
        return [row.periods, row.paid, row.recognised, row.refunded, row.deferred, row.difference]

    for plan_id, row in schedule.to_date.items():
        check.append([schedule.plans[plan_id], *totals(row)])
    check.append([all_plans_label(), *totals(schedule.total_to_date())])
    return [months, check]


def page_tables(tables: list[tablib.Dataset]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, headers, rows) with the amounts as finance reads them."""

    def shown(cell):
        if isinstance(cell, Decimal):
            return money(cell)
        return whole(cell) if isinstance(cell, int) else cell

    return [
        (table.title, list(table.headers), [[shown(cell) for cell in row] for row in table])
        for table in tables
    ]


def export_response(tables: list[tablib.Dataset], fmt: str, stamp: str) -> HttpResponse:
    for table in tables:
        neutralise_dataset(table)  # plan names are typed by operators
    if fmt == "xlsx":
        response = HttpResponse(
            tablib.Databook(tables).export("xlsx"),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    else:
        # Excel on Chinese Windows needs the BOM to read UTF-8; one file, both tables.
        text = "\r\n".join(table.export("csv") for table in tables)
        response = HttpResponse(("\ufeff" + text).encode("utf-8"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="membership-fee-revenue-{stamp}.{fmt}"'
    return response
