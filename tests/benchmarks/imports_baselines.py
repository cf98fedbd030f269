"""The import benchmark's two baselines (tests/benchmarks/imports.py): (a) the floor, the file
loaded by COPY into a table of text columns; (b) plain django-import-export, the file's rows saved
as they are by a ModelResource."""

from __future__ import annotations

import sys
from pathlib import Path

# isort: off
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere
from tests.benchmarks.common import sql  # sets Django up
# isort: on

import tablib
from django.db import connection, models, transaction
from import_export import fields, resources

COPY_TABLE, PLAIN_TABLE = "bench_copy", "bench_plain_receipt"
# The file's columns, in its order: (our name, its header)
COLUMNS = [
    ("store_code", "门店编码"), ("store_name", "门店名称"), ("receipt_no", "小票号"), ("card", "会员卡号"),
    ("mobile", "手机号"), ("kind", "交易类型"), ("gross", "应收金额"), ("paid", "实收金额"),
    ("occurred_at", "交易时间"), ("original_no", "原小票号"), ("cashier", "收银员"),
]  # fmt: skip
NAMES = ", ".join(name for name, _header in COLUMNS)


def create_tables() -> None:
    """The two baselines' tables: every column of the file as text."""
    columns = ", ".join(f"{name} text" for name, _header in COLUMNS)
    sql(f"CREATE TABLE {COPY_TABLE} ({columns})")
    sql(f"CREATE TABLE {PLAIN_TABLE} (id bigserial PRIMARY KEY, {columns})")


# --- (a) the floor: COPY -------------------------------------------------------------------


def copy_file(path: Path) -> None:
    statement = f"COPY {COPY_TABLE} ({NAMES}) FROM STDIN WITH (FORMAT csv, HEADER true, ENCODING 'GBK')"
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        path.open("rb") as f,
        cursor.copy(statement) as copy,
    ):
        while block := f.read(1 << 20):
            copy.write(block)


# --- (b) plain django-import-export --------------------------------------------------------


class PlainReceipt(models.Model):
    """The file's row as it is: what a project writes first for "import the POS export"."""

    store_code = models.CharField(max_length=32)
    store_name = models.CharField(max_length=100)
    receipt_no = models.CharField(max_length=64)
    card = models.CharField(max_length=64, blank=True)
    mobile = models.CharField(max_length=32, blank=True)
    kind = models.CharField(max_length=16)
    gross = models.CharField(max_length=32)
    paid = models.CharField(max_length=32)
    occurred_at = models.CharField(max_length=32)
    original_no = models.CharField(max_length=64, blank=True)
    cashier = models.CharField(max_length=64, blank=True)

    class Meta:
        app_label = "members"
        managed = False
        db_table = PLAIN_TABLE

    def __str__(self) -> str:
        return self.receipt_no


class PlainReceiptResource(resources.ModelResource):
    store_code = fields.Field(attribute="store_code", column_name="门店编码")
    store_name = fields.Field(attribute="store_name", column_name="门店名称")
    receipt_no = fields.Field(attribute="receipt_no", column_name="小票号")
    card = fields.Field(attribute="card", column_name="会员卡号")
    mobile = fields.Field(attribute="mobile", column_name="手机号")
    kind = fields.Field(attribute="kind", column_name="交易类型")
    gross = fields.Field(attribute="gross", column_name="应收金额")
    paid = fields.Field(attribute="paid", column_name="实收金额")
    occurred_at = fields.Field(attribute="occurred_at", column_name="交易时间")
    original_no = fields.Field(attribute="original_no", column_name="原小票号")
    cashier = fields.Field(attribute="cashier", column_name="收银员")

    class Meta:
        model = PlainReceipt
        fields = ("id", *(name for name, _header in COLUMNS))


def plain_import(data: bytes) -> None:
    dataset = tablib.Dataset().load(data.decode("gb18030"), format="csv")
    result = PlainReceiptResource().import_data(dataset, dry_run=False)
    assert not result.has_errors() and not result.has_validation_errors(), "plain import failed"
