"""Fixtures for imports: the shared samples, their stores, and a helper to run a file through."""

from __future__ import annotations

import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from members.imports.models import ImportProfile, ImportRun
from members.imports.runner import import_confirm, import_run_execute
from members.imports.services import import_preview
from tests.factories import StoreFactory

SAMPLES = Path("/work/shared/samples")
TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=TZ)


@pytest.fixture
def sample_stores(db):
    return [StoreFactory(code=f"S000{i}", name=f"门店{i}") for i in range(3)]


def sample_bytes(code: str) -> bytes:
    if not SAMPLES.is_dir():
        pytest.skip(f"shared samples not found at {SAMPLES}")
    return (SAMPLES / f"{code}.csv").read_bytes()


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
