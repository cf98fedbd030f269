"""Reading uploaded exports: bytes in, rows of strings and typed values out. No database here.

Every import (members, POS receipts, shop orders, layouts an operator maps later) goes through
these functions, so a file is read the same way in the preview, the background job and the
command line. Files are read as a stream: a million-row export is never held as a list of rows.

Errors:
- ``ValueError`` when the bytes are not text in any encoding we know, or not a workbook;
- ``ValidationError`` for what an operator fixes in the file (a missing column, a bad value),
  with a message naming the value.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Literal

from charset_normalizer import from_bytes
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from members.imports.reasons import column_name, error

FileFormat = Literal["auto", "csv", "tsv", "xlsx"]

_UTF8_BOM = b"\xef\xbb\xbf"
_ZIP_MAGIC = b"PK\x03\x04"  # an XLSX workbook is a zip archive
_SAMPLE = 1 << 16  # bytes looked at to guess the encoding of a streamed file: plenty for Chinese text
_DELIMITERS = (",", "\t", ";")
# GB18030 is a superset of GBK and GB2312: decoding with it also takes the rarer characters
# some POS emit while staying byte-identical for everything GBK has.
_GB_FAMILY = {"gbk", "gb2312", "gb18030", "cp936", "936"}


# --- text and tables -----------------------------------------------------------------------


def detect_encoding(data: bytes, encoding: str = "auto", *, sample_size: int | None = None) -> str:
    """The Python codec to read ``data`` with: an explicit ``encoding`` wins, else UTF-8
    (BOM or not), else what charset-normalizer finds, a GBK guess being read as GB18030.

    ``sample_size`` limits the guess to the start of the file (cut at a line end, which never
    splits a UTF-8 or GBK character) so a large file is not scanned twice.
    """
    if encoding and encoding.lower() != "auto":
        name = encoding.strip().lower()
        try:
            codec = codecs.lookup(name).name
        except LookupError:
            raise ValueError(_("Unknown encoding “%(encoding)s”.") % {"encoding": encoding}) from None
        if name in _GB_FAMILY or codec in _GB_FAMILY:
            return "gb18030"
        return "utf-8-sig" if codec == "utf-8" else codec  # utf-8-sig also drops a BOM
    if data.startswith(_UTF8_BOM):
        return "utf-8-sig"
    sample = data
    if sample_size is not None and len(data) > sample_size:
        sample = data[:sample_size]
        sample = sample[: sample.rfind(b"\n") + 1] or sample
    try:
        sample.decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError:
        pass
    best = from_bytes(sample, cp_isolation=["gb18030", "gbk", "big5", "utf_16"]).best()
    if best is None:
        raise ValueError(_("The file is neither UTF-8 nor GBK text."))
    return "gb18030" if best.encoding in _GB_FAMILY else best.encoding


def decode_text(data: bytes, encoding: str = "auto") -> str:
    """Decode a whole uploaded text file (see ``detect_encoding``); BOM removed."""
    codec = detect_encoding(data, encoding)
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        raise ValueError(_("The file is not %(encoding)s text.") % {"encoding": codec}) from None


def sniff_delimiter(line: str) -> str:
    """The most frequent of ``,`` / tab / ``;`` in the header line; ``,`` when none is there."""
    counts = {d: line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])  # ties keep the order of _DELIMITERS
    return best if counts[best] else ","


def read_table(
    data: bytes,
    *,
    file_format: FileFormat = "auto",
    encoding: str = "auto",
    delimiter: str | None = None,
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(row number as a spreadsheet shows it, cells as stripped strings)``, header
    included, blank rows included (callers decide what they mean). A generator: rows are read
    as they are asked for.
    """
    if file_format == "xlsx" or (file_format == "auto" and data.startswith(_ZIP_MAGIC)):
        yield from _read_xlsx(data)
        return
    if file_format == "tsv":
        delimiter = "\t"
    yield from _read_csv(data, encoding=encoding, delimiter=delimiter)


def _read_csv(data: bytes, *, encoding: str, delimiter: str | None) -> Iterator[tuple[int, list[str]]]:
    codec = detect_encoding(data, encoding, sample_size=_SAMPLE)
    # Decoding on the fly, not decode_text: no second copy of a large file as one string.
    stream = io.TextIOWrapper(io.BytesIO(data), encoding=codec, newline="")
    if delimiter is None:
        first = stream.readline()
        delimiter = sniff_delimiter(first)
        stream.seek(0)
    # One record is one spreadsheet row, even when a quoted cell spans several lines.
    reader = csv.reader(stream, delimiter=delimiter)
    number = 0
    try:
        for number, row in enumerate(reader, start=1):
            yield number, [cell.strip() for cell in row]
    except UnicodeDecodeError:
        raise ValueError(
            _("The file is not %(encoding)s text (after row %(row)d).") % {"encoding": codec, "row": number}
        ) from None
    except csv.Error as exc:
        raise ValueError(
            _("Row %(row)d is not valid CSV: %(error)s") % {"row": number + 1, "error": exc}
        ) from None


def _read_xlsx(data: bytes) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook  # only workbooks pay for the import
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ValueError(_("The file is not a readable XLSX workbook.")) from exc
    try:
        # read_only mode streams the sheet and yields empty rows for gaps, so numbers match Excel.
        for number, row in enumerate(book.active.iter_rows(values_only=True), start=1):
            yield number, [cell_text(value) for value in row]
    finally:
        book.close()


def cell_text(value: object) -> str:
    """A workbook cell as the text a CSV export would carry."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone or receipt number typed as a number: no ".0"
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value).strip()


def is_blank(cells: Iterable[str]) -> bool:
    return not any(cell.strip() for cell in cells)


_TOTAL_WORDS = {"合计", "总计", "小计", "total", "totals", "grand total", "subtotal", "sum"}
_TOTAL_ANYWHERE = ("合计", "总计")


def is_totals(cells: list[str], order_index: int | None = None) -> bool:
    """A totals line that exports append: its first filled cell is 合计/总计/小计/Total, or it
    has no receipt number (``order_index``) and says 合计 or 总计 somewhere."""
    filled = [cell.strip() for cell in cells if cell.strip()]
    if not filled:
        return False
    if filled[0].lower().rstrip(":：") in _TOTAL_WORDS:
        return True
    no_number = order_index is not None and (order_index >= len(cells) or not cells[order_index].strip())
    return no_number and any(word in cell for cell in filled for word in _TOTAL_ANYWHERE)


# --- headers -------------------------------------------------------------------------------


def _header_key(text: str) -> str:
    return re.sub(r"\s+", "", str(text or "").replace("\ufeff", "")).lower()


def header_map(
    headers: list[str], aliases: Mapping[str, tuple[str, ...]], required: Iterable[str] = ()
) -> dict[str, int]:
    """Canonical field -> column index, comparing headers without case, spaces or BOM.

    Raises ValidationError listing every required field no column stands for, or a field two
    columns claim (picking one silently could import the wrong column).
    """
    lookup = {_header_key(alias): field for field, names in aliases.items() for alias in names}
    found: dict[str, int] = {}
    for index, header in enumerate(headers):
        field = lookup.get(_header_key(header))
        if field is None:
            continue
        if field in found:
            raise ValidationError(
                _("The columns “%(first)s” and “%(second)s” both stand for %(field)s; remove one.")
                % {"first": headers[found[field]], "second": header, "field": column_name(field, {})},
                code="ambiguous_column",
            )
        found[field] = index
    missing = [field for field in required if field not in found]
    if missing:
        wanted = "; ".join(
            f"{column_name(field, {})} ({' / '.join(aliases.get(field, ())[:3])})" for field in missing
        )
        raise ValidationError(
            _("Missing columns: %(missing)s. The file's columns are: %(headers)s.")
            % {"missing": wanted, "headers": ", ".join(h for h in headers if h) or "-"},
            code="missing_columns",
        )
    return found


# --- values --------------------------------------------------------------------------------

_SPACES = re.compile(r"[\s\u00a0\u3000]+")
_AMOUNT = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$|^[+-]?\.\d+$")
_CENT = Decimal("0.01")


def parse_amount(raw: str, *, allow_empty: bool = False) -> Decimal | None:
    """``¥1,234.50``, ``￥ 1 234.50``, ``-1,234.50``, ``(1,234.50)`` -> Decimal with 2 places.

    Thousands separators must group by three (``1,2,3`` is a typo, not 123). More than two
    decimals are refused unless they are zeros: CNY has fen, and rounding silently moves money.
    """
    text = _SPACES.sub("", str(raw or ""))
    if not text:
        if allow_empty:
            return None
        raise error("empty_amount")
    number = text
    negative = number.startswith("(") and number.endswith(")")
    if negative:
        number = number[1:-1]
    number = number.replace("¥", "").replace("￥", "").removesuffix("元")
    if not _AMOUNT.match(number) or (negative and number[:1] in "+-"):
        raise error("not_amount", value=str(raw).strip())
    try:
        value = Decimal(number.replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the pattern already guarantees a number
        raise error("not_amount", value=str(raw).strip()) from None
    if value != value.quantize(_CENT):
        raise error("too_many_decimals", value=str(raw).strip())
    value = value.quantize(_CENT)
    return -value if negative else value


_DATETIME = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:(?:\s+|T|(?<=日))(\d{1,2})\s*[:：时]\s*(\d{1,2})\s*分?"
    r"(?:(?:\s*[:：]\s*|(?<=分)\s*)(\d{1,2})(?:\.\d+)?\s*秒?)?)?$"
)
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:\s*(\d{2}):?(\d{2})(?::?(\d{2}))?)?$")


def parse_datetime(raw: str, tz: datetime.tzinfo, *, formats: Iterable[str] = ()) -> datetime.datetime:
    """An aware datetime in ``tz`` from ``2026-11-01 10:02:11``, ``2026/11/1 9:05``,
    ``2026年11月01日 10:02``, ``20261101``, or a date alone (midnight). Seconds are optional.

    ``formats`` (strptime patterns from a profile) are tried first, for layouts such as
    day-first dates that the built-in forms would misread.
    """
    text = str(raw or "").strip()
    if not text:
        raise error("empty_date")
    for pattern in formats:
        try:
            return datetime.datetime.strptime(text, pattern).replace(tzinfo=tz)
        except ValueError:
            continue
    match = _DATETIME.match(text) or _COMPACT.match(text)
    if not match:
        raise error("not_datetime", value=text)
    year, month, day, hour, minute, second = (int(part) if part else 0 for part in match.groups())
    try:
        return datetime.datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except ValueError:
        raise error("unreal_date", value=text) from None


def parse_text(raw: str, max_length: int) -> str:
    """Stripped text, refused when longer than the column that will store it (the message
    leaves the column's name to whoever shows it: see ``members.imports.reasons``)."""
    text = str(raw or "").strip()
    if len(text) > max_length:
        raise error("too_long", limit=max_length, value=text[:20])
    return text


def error_messages(exc: ValidationError) -> list[str]:
    """The plain messages of a ValidationError, whatever its shape."""
    return [str(message) for message in exc.messages]
