"""Spreadsheet exports from the admin (CSV and XLSX), safe to open in Excel and WPS.

**Formula injection.** A cell whose text a spreadsheet would run as a formula (``=``, ``+``,
``-``, ``@``, a tab or a carriage return first, also after leading spaces) is written with a
leading apostrophe: ``=HYPERLINK(...)`` becomes ``'=HYPERLINK(...)``, which Excel and WPS show
as text. Numbers are left alone: ``-12.50`` stays a number in both formats, and XLSX cells
keep their native types (Decimal, int, datetime). Member names, order numbers, reasons and the
like come from files and partners, so they are untrusted. In CSV the apostrophe is Excel's own
"this is text" mark; in XLSX it stays visible in the cell (tablib cannot set openpyxl's
``quotePrefix`` style), which is the price of never writing ``=...`` text that openpyxl would
store as a live formula.

Why not the library's ``IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT`` (django-import-export 4.4.3,
``TablibFormat._escape_formulae``)? It does not do what we need:

- it only handles ``=``, and *deletes* it instead of quoting it (``=1+1`` becomes ``1+1``);
  ``+``, ``-``, ``@``, tab and CR go through unchanged;
- it turns every cell into ``str``: ``None`` becomes the text ``"None"``, and in XLSX numbers
  and dates become text, so finance cannot add up an exported amount column;
- it rebuilds the dataset with ``lpop`` (``del rows[0]``), which is quadratic in rows.

So the setting is off (config/settings.py) and ``ExportResource`` quotes each row as it is
exported; the formats are the library's own CSV and XLSX, so XLSX still gets native values
(the admin asks for them only when the format is exactly ``XLSX``, ``type(fmt) in BINARY_FORMATS``,
which is why there is no subclass of it here). tablib's ``escape`` option for XLSX also just
drops the ``=``. Tables built without a resource (the liability report) use
``neutralise_dataset``.

**Encoding.** CSV is the library's text format, so the admin encodes it with ``to_encoding``
(``utf-8-sig``: Excel on Chinese Windows reads UTF-8 only after a BOM). The import's
``DetectedEncodingCSV`` declares itself binary, and the admin skips ``to_encoding`` for binary
formats: member exports through it had no BOM.

**Large tables.** Resources read the queryset with ``.iterator(chunk_size=EXPORT_CHUNK_SIZE)``
(import-export's ``iter_queryset``; it falls back to pages only when there is a
``prefetch_related``), so model instances are not all held at once, and every resource names
its ``select_related`` so a row costs no extra query. The rows themselves are still collected
in a tablib ``Dataset`` and the file is built in memory: that is how the library works, and it
is fine for filtered lists; a full ledger dump belongs in a background job.
"""

from __future__ import annotations

import re
from typing import Any

import tablib
from django.db.models import Field, Model, QuerySet
from import_export import fields, resources
from import_export.admin import ExportMixin
from import_export.formats.base_formats import CSV, XLSX
from unfold.contrib.import_export.forms import SelectableFieldsExportForm

#: First characters that make Excel, WPS or LibreOffice evaluate a cell (OWASP "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: A plain number, possibly signed, possibly with thousands separators: data, not a formula.
_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][+-]?\d+)?")
#: Rows fetched per round trip when a resource walks its queryset.
EXPORT_CHUNK_SIZE = 2000


def _is_number(text: str) -> bool:
    return any(ch.isdigit() for ch in text) and _NUMBER.fullmatch(text) is not None


def neutralise_formula(value: Any) -> Any:
    """``'=cmd'`` -> ``"'=cmd"``; numbers, dates, ``None`` and harmless text come back unchanged."""
    if not isinstance(value, str) or not value:
        return value
    if value[0] in FORMULA_STARTS:
        head = value
    else:
        head = value.lstrip()
        if not head or head[0] not in FORMULA_STARTS:
            return value
    if _is_number(head.strip()):
        return value  # "-12.50", "+3": a spreadsheet reads these as the numbers they are
    return "'" + value


def neutralise_dataset(dataset: tablib.Dataset) -> tablib.Dataset:
    """Quote formula-like text in every row and header of ``dataset``, in place; returns it."""
    if dataset.headers:
        dataset.headers = [neutralise_formula(h) for h in dataset.headers]
    for index, row in enumerate(dataset):
        if any(isinstance(cell, str) for cell in row):
            dataset[index] = [neutralise_formula(cell) for cell in row]
    return dataset


EXPORT_FORMATS = [CSV, XLSX]


class ExportResource(resources.ModelResource):
    """Base of the admin's export resources: streams the queryset, with the relations it names.

    ``user`` is the person exporting (the admin passes it), for resources that mask personal
    data; without one, a resource must assume the least privileged reader.
    """

    #: Relations every row reads; joined in the export query instead of one query per row.
    select_related: tuple[str, ...] = ()

    def __init__(self, *, user: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.user = user

    @classmethod
    def field_from_django_field(cls, field_name: str, django_field: Any, readonly: bool) -> fields.Field:
        """Columns are headed by the model field's label (translated when exported), not its name."""
        field = super().field_from_django_field(field_name, django_field, readonly)
        field.column_name = django_field.verbose_name
        return field

    def export_resource(self, instance: Model, selected_fields: Any = None, **kwargs: Any) -> list[Any]:
        row = super().export_resource(instance, selected_fields, **kwargs)
        return [neutralise_formula(cell) for cell in row]

    def get_chunk_size(self) -> int:
        return EXPORT_CHUNK_SIZE

    def filter_export(self, queryset: QuerySet, **kwargs: Any) -> QuerySet:
        queryset = super().filter_export(queryset, **kwargs)
        return queryset.select_related(*self.select_related) if self.select_related else queryset


def column(model: type[Model], field_name: str, attribute: str) -> fields.Field:
    """An export column reading ``attribute``, headed by the label of ``model.field_name``."""
    field = model._meta.get_field(field_name)
    assert isinstance(field, Field), f"{field_name} is the reverse side of a relation: it has no label"
    return fields.Field(attribute=attribute, column_name=field.verbose_name, readonly=True)


class ColumnsExportForm(SelectableFieldsExportForm):
    """The export page's column checkboxes say the column as the file heads it ("会员编号"),
    not the resource's field name with it ("Member Number (会员编号)"). The theme's form (its
    widgets; django-unfold's import-export integration) under it."""

    def _get_field_label(self, resource: Any, field_name: str) -> str:
        field = resource.fields.get(field_name)
        return str(field.column_name) if field is not None and field.column_name else field_name


class SpreadsheetExportMixin(ExportMixin):
    """ExportMixin for our admins: CSV (UTF-8 with BOM) and XLSX of an ``ExportResource``.

    ``export_resource_classes`` lets an admin that also imports export through another resource.
    """

    to_encoding = "utf-8-sig"  # Excel on Chinese Windows needs the BOM to read UTF-8
    export_form_class = ColumnsExportForm
    export_resource_classes: list[type[ExportResource]] = []

    def get_export_formats(self) -> list[type]:
        return list(EXPORT_FORMATS)

    def get_export_resource_classes(self, request) -> list[type]:
        return list(self.export_resource_classes) or super().get_export_resource_classes(request)

    def get_export_resource_kwargs(self, request, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_export_resource_kwargs(request, **kwargs), "user": request.user}
