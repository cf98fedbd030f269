"""Fixtures for imports: the repository's sample exports (tests/fixtures/samples), their stores,
and a helper to run a file through."""

from __future__ import annotations

import csv
import datetime
import io
from collections import defaultdict
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from members.imports import runner
from members.imports.models import ImportProfile, ImportRun
from members.imports.runner import import_confirm, import_run_execute
from members.imports.services import import_preview
from tests.factories import StoreFactory
from tests.fixtures.exports import read_sample

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=TZ)


@pytest.fixture
def sample_stores(db):
    return [StoreFactory(code=f"S000{i}", name=f"门店{i}") for i in range(3)]


def sample_bytes(code: str) -> bytes:
    return read_sample(f"{code}.csv")


def preview(
    code: str, data: bytes | None = None, *, user=None, store=None, name: str | None = None
) -> ImportRun:
    data = sample_bytes(code) if data is None else data
    profile = ImportProfile.objects.get(code=code)
    return import_preview(
        profile=profile, data=data, file_name=name or f"{code}.csv", user=user, store=store, now=NOW
    )


def run_file(code: str, data: bytes | None = None, **kwargs) -> ImportRun:
    run = preview(code, data, **kwargs)
    import_confirm(run=run, user=kwargs.get("user"), start=False)
    return import_run_execute(run.pk)


def expected_points(data: bytes, rejected: set[int]) -> tuple[int, int, int]:
    """(points, sales, returns) of a POS export, by hand: 1 point per CNY paid rounded down; a
    return takes back its share of the sale's points, rounded half up, as refunds add up; a
    receipt number seen before in the file is the same receipt again and counts once."""
    rows = list(csv.DictReader(io.StringIO(data.decode("gbk"))))
    earned, paid, refunded, reversed_ = {}, {}, defaultdict(Decimal), defaultdict(int)
    sales = returns = 0
    for number, row in enumerate(rows, start=2):
        if number in rejected or row["门店编码"] == "合计":
            continue
        if row["交易类型"] == "销售":
            if row["小票号"] in paid:
                continue
            sales += 1
            paid[row["小票号"]] = Decimal(row["实收金额"].replace(",", ""))
            earned[row["小票号"]] = int(paid[row["小票号"]].to_integral_value(ROUND_FLOOR))
        else:
            returns += 1
            original = row["原小票号"]
            refunded[original] -= Decimal(row["实收金额"].replace(",", ""))
            share = Decimal(earned[original]) * refunded[original] / paid[original]
            reversed_[original] = int(share.to_integral_value(ROUND_HALF_UP))
    return sum(earned.values()) - sum(reversed_.values()), sales, returns


# --- admin pages (tests/imports/test_admin*.py) --------------------------------------------------

UPLOAD = reverse("admin:imports_importrun_upload")
POS = "pos_receipts_gbk"


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def en(client):
    """Pages in English, so assertions do not depend on the zh-hans catalogue."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def jobs(monkeypatch):
    """The job runs inline when the confirmation commits (no thread, no broker)."""
    started: list[int] = []

    def start(run_id: int) -> None:
        started.append(run_id)
        import_run_execute(run_id)

    monkeypatch.setattr(runner, "job_start", start)
    return started


def profile(code: str = POS) -> ImportProfile:
    return ImportProfile.objects.get(code=code)


def run_url(run: ImportRun, name: str = "change") -> str:
    return reverse(f"admin:imports_importrun_{name}", args=[run.pk])


def upload(client, data: bytes, *, code: str = POS, name: str = "pos_receipts_gbk.csv", store=None, **kw):
    file = io.BytesIO(data)
    file.name = name
    payload = {"profile": profile(code).pk, "file": file, "store": store.pk if store else ""}
    return client.post(UPLOAD, payload, **kw)


def confirm(client, run: ImportRun, capture) -> None:
    with capture(execute=True):
        response = client.post(run_url(run, "confirm"))
    assert response.status_code == 302
