"""What the benchmark scripts share: Django set-up, timing, raw SQL and the printed tables.

Import this first: it puts the project on the path and sets Django up, so the script's own
model imports after it work when run as ``python tests/benchmarks/<name>.py``.
"""

from __future__ import annotations

import datetime
import os
import pstats
import re
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

ROOT = str(Path(__file__).resolve().parents[2])


def local(*args: int) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime(*args))


def say(message: str) -> None:
    print(f"  · {message}", file=sys.stderr, flush=True)


def stopwatch(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def sql(statement: str, params: dict | list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def one(statement: str, params: dict | list | None = None):
    return sql(statement, params)[0][0]


def table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    line = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    print(line.format(*headers))
    for row in rows:
        print(line.format(*row))
    print()


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def statement_kind(statement: str) -> str:
    """The verb and table of a statement (``SELECT points_entry``), to count a run's queries by kind."""
    verb = statement.split(None, 1)[0].upper()
    found = re.search(r'(?:FROM|INTO|UPDATE)\s+"(\w+)"', statement)
    return f"{verb} {found.group(1)}" if found and verb not in ("SAVEPOINT", "RELEASE") else verb


def profile_top(stats: pstats.Stats, per: int, *, mine: bool, top: int = 10) -> list[list[str]]:
    """Table rows (function, calls, time, share) per ``per`` units of work: the project's own
    functions by cumulative time (``mine``), or any function by the time spent in its own code."""
    rows = []
    for (filename, line, name), (_cc, calls, own, cumulative, _callers) in stats.stats.items():
        ours = filename.startswith(ROOT) and not re.search(r"/(\.venv|tests)/", filename)
        if ours or not mine:
            short = re.sub(r".*/(site-packages|python3\.\d+)/", "", filename)
            where = filename[len(ROOT) + 1 :] if ours else short
            rows.append((cumulative if mine else own, f"{where}:{line} {name}", calls))
    return [
        [label, f"{calls / per:.1f}", f"{seconds / per * 1000:.2f} ms", f"{seconds / stats.total_tt:.0%}"]
        for seconds, label, calls in sorted(rows, reverse=True)[:top]
    ]
