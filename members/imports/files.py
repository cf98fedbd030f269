"""Files given back to the operator: the rejected rows of an import, to fix and upload again.

The rows are taken from the uploaded file as it was (same columns, same order), with one more
column saying why each was rejected. The file keeps its columns' names, so it goes back in
through the same profile; rows already imported in between are then simply duplicates.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from django.utils.translation import gettext as _

from config.common.exports import neutralise_formula
from members.imports.models import ImportRow, ImportRun
from members.imports.parsing import header_map, is_blank, read_table
from members.imports.reasons import errors_text
from members.imports.services import profile_of

_HEAD = 1 << 16
_ZIP_MAGIC = b"PK\x03\x04"


def _table(run: ImportRun, *, head: bool = False) -> Iterable[tuple[int, list[str]]]:
    """The stored file's rows; ``head``: only its first 64 KiB when it is text (the header row
    of a large export is all a page needs: no need to read 100 MB on every view)."""
    spec = profile_of(run.profile)
    with run.file.open("rb") as handle:
        data = handle.read(_HEAD) if head else handle.read()
        if head and data.startswith(_ZIP_MAGIC):  # a workbook is only readable whole
            data += handle.read()
        elif head and len(data) == _HEAD:
            data = data[: data.rfind(b"\n") + 1] or data  # whole lines only: no split character
    return read_table(data, file_format=spec.file_format, encoding=spec.encoding, delimiter=spec.delimiter)


def column_labels(run: ImportRun) -> dict[str, str]:
    """Canonical field -> the file's own header for it, so messages name the file's columns."""
    spec = profile_of(run.profile)
    for _number, cells in _table(run, head=True):
        if not is_blank(cells):
            return {field: cells[index] for field, index in header_map(cells, spec.columns).items()}
    return {}


def row_message(row: ImportRow, labels: dict[str, str]) -> str:
    """The row's reasons in the current language, naming the file's own columns."""
    return errors_text(row.errors, labels)


def rejected_rows_csv(run: ImportRun) -> bytes:
    """The rejected rows as CSV (UTF-8 with BOM, which Excel reads) with an error column."""
    errors = dict(run.rows.filter(state=ImportRow.State.REJECTED).values_list("number", "errors"))
    labels = column_labels(run)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    header_seen = False
    for number, cells in _table(run):
        if not header_seen:
            if is_blank(cells):
                continue
            writer.writerow([*map(neutralise_formula, cells), _("error")])
            header_seen = True
        elif number in errors:
            message = row_message(ImportRow(errors=errors[number]), labels)
            writer.writerow(
                [
                    *map(neutralise_formula, cells),
                    neutralise_formula(_("row %(row)d: ") % {"row": number} + message),
                ]
            )
    return out.getvalue().encode("utf-8-sig")
