"""Races for PostgreSQL concurrency tests, and a switch that turns one lock of the code off.

``race`` runs threads released together, each on its own connection; with ``meet`` they also
meet at a chosen statement, so the interleaving a lock exists for happens every time, not by
luck. ``lock_sites`` finds every row lock (``select_for_update``) and advisory lock in the
application code by parsing it; ``locks_disabled`` makes chosen ones no-ops (the same queryset,
unlocked), for the control beside each lock test and for ``tests/locks.py``, which proves every
lock by turning it off and watching a test fail.

Also a pytest plugin (``-p tests.concurrency``): with ``LOCKS_DISABLED=<site id>[,...]`` in the
environment those locks are off for the whole run; with ``LOCKS_HITS=<file>`` it writes how many
times each disabled lock was reached.
"""

from __future__ import annotations

import ast
import contextlib
import os
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections

# seconds for all threads of one race; a deadlock or a lost wake-up fails the test
TIMEOUT = float(os.environ.get("RACE_TIMEOUT", 120))
ROOT = Path(__file__).resolve().parent.parent
#: Not application code: the tests themselves, settings and tooling, and schema history.
NOT_APPLICATION = {"tests", "config", "docs", "locale", "templates", "static", "media"}
ADVISORY = re.compile(r"pg_(?:try_)?advisory_(?:xact_)?lock(?:_shared)?\b")

#: ``@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)``: the test with its lock, and the
#: control beside it, the same race with the lock off, which must show the harm.
LOCKED_AND_CONTROL = [pytest.param(True, id="locked"), pytest.param(False, id="control")]


# --- races ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Last:
    """A meeting point where the thread lets every other thread finish (or wait for a lock)
    first: it has read, the others write and commit, then it goes on with what it read."""

    point: str | Callable[[str, Any], bool]


#: Where a thread stops: a regular expression of SQL, or a test of (sql, params).
Point = str | Callable[[str, Any], bool] | Last


def _matcher(point: Point | None) -> Callable[[str, Any], bool] | None:
    if isinstance(point, Last):
        point = point.point
    if point is None or callable(point):
        return point
    pattern = re.compile(point, re.IGNORECASE | re.DOTALL)
    return lambda sql, _params: bool(pattern.search(sql))


class _Meeting:
    """Threads stop at their first statement matching ``pattern`` until every other thread has
    arrived there too, has finished, or is waiting for a lock in PostgreSQL (which is what a
    lock is for: then the others go on and release it)."""

    def __init__(self, count: int, points: list[Point | None], timeout: float) -> None:
        self.points = [_matcher(point) for point in points]
        self.last = [isinstance(point, Last) for point in points]
        self.finished = [False] * count
        self.timeout = timeout
        self.pids: list[int | None] = [None] * count
        self.running = [True] * count  # neither arrived nor finished
        self.met = [False] * count
        self.monitor = connections.create_connection(DEFAULT_DB_ALIAS)
        self.monitor.inc_thread_sharing()
        self.monitor_lock = threading.Lock()

    def wrapper(self, i: int) -> Callable[..., Any]:
        def wrap(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
            point = self.points[i]
            if self.running[i] and point and point(sql, params):
                self.wait(i)
            return execute(sql, params, many, context)

        return wrap

    def wait(self, i: int) -> None:
        self.running[i] = False
        self.met[i] = True
        deadline = time.monotonic() + self.timeout
        while True:
            if self.last[i]:
                others = [j for j, finished in enumerate(self.finished) if not finished and j != i]
            else:
                others = [j for j, running in enumerate(self.running) if running]
            if not others or set(others) <= self.blocked(others):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"thread {i} waited {self.timeout}s at the meeting point for {others}")
            time.sleep(0.005)

    def blocked(self, threads: list[int]) -> set[int]:
        pids = {self.pids[j]: j for j in threads if self.pids[j] is not None}
        if not pids:
            return set()
        with self.monitor_lock, self.monitor.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM unnest(%s::int[]) AS pid WHERE cardinality(pg_blocking_pids(pid)) > 0",
                [list(pids)],
            )
            return {pids[pid] for (pid,) in cursor.fetchall()}

    def done(self, i: int) -> None:
        self.running[i] = False
        self.finished[i] = True

    def close(self) -> None:
        self.monitor.close()


def race(
    count: int,
    work: Callable[[int], Any],
    timeout: float = TIMEOUT,
    *,
    meet: Point | Sequence[Point | None] | None = None,
) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released together; results or exceptions, in order.

    ``meet``: a regular expression of SQL (or a test of sql and params); each thread stops
    before its first statement matching it until each other thread is there too, finished, or
    waiting for a lock. Choose the first
    write after the lock: with the lock, one thread waits for the other's commit; without it,
    all of them have read the same state before any writes, the race a lock is there to stop.

    A list gives each thread its own point; a thread with None never stops, and the others wait
    for it to finish or to wait for a lock: it goes first. At a ``Last(point)`` a thread waits
    for every other thread to finish or to wait for a lock.

    Fails if any thread is still running after ``timeout`` seconds (a deadlock or a hang).
    """
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    single = isinstance(meet, (str, Last)) or callable(meet)
    points = [meet] * count if single else list(meet or [])
    meeting = _Meeting(count, points, timeout) if meet else None

    def run(i: int) -> None:
        try:
            with contextlib.ExitStack() as stack:
                if meeting:
                    connection.ensure_connection()
                    meeting.pids[i] = connection.connection.info.backend_pid
                    stack.enter_context(connection.execute_wrapper(meeting.wrapper(i)))
                barrier.wait()
                results[i] = work(i)
        except Exception as exc:
            results[i] = exc
        finally:
            if meeting:
                meeting.done(i)
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(deadline - time.monotonic(), 0))
        stuck = sum(t.is_alive() for t in threads)
        assert not stuck, f"{stuck} of {count} threads still running after {timeout}s: deadlock or hang"
        if meeting:  # a meeting point never reached tests nothing: the pattern is stale
            assert any(meeting.met), f"no thread ran a statement matching {meet!r}"
    finally:
        if meeting:
            meeting.close()
    return results


#: The first write of a transaction: where a thread has read all it decides on.
FIRST_WRITE = r"^\s*(INSERT|UPDATE|DELETE|COPY)\b"


def errors(results: list[Any]) -> list[BaseException]:
    return [r for r in results if isinstance(r, BaseException)]


# --- the locks of the application code ------------------------------------------------------------


@dataclass(frozen=True)
class LockSite:
    """One lock call in the source: ``path::function`` (``#n`` for the n-th in that function)."""

    id: str
    path: str  # relative to the repository, with /
    line: int  # where the lock is named (what grep shows)
    first: int  # the lines the call spans: a frame running it is on one of them
    last: int
    code: str
    kind: str  # "row" or "advisory"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


def application_files(root: Path = ROOT) -> list[Path]:
    """Python files of the application's packages, without migrations (history, not code)."""
    files = []
    for package in sorted(p.parent for p in root.glob("*/__init__.py")):
        if package.name in NOT_APPLICATION or package.name.startswith("."):
            continue
        files += [f for f in sorted(package.rglob("*.py")) if "migrations" not in f.relative_to(root).parts]
    return files


def _sites_in(path: Path, root: Path) -> list[LockSite]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    rel = path.relative_to(root).as_posix()
    found: list[tuple[str, int, int, int, str]] = []  # (scope, line, first, last, kind)

    def visit(node: ast.AST, scope: str, span: tuple[int, int] | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                inner = f"{scope}.{child.name}" if scope else child.name
                visit(child, inner, (child.lineno, child.end_lineno or child.lineno))
                continue
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr == "select_for_update"
            ):
                line = child.func.end_lineno or child.lineno
                found.append((scope, line, child.lineno, child.end_lineno or line, "row"))
            elif (
                isinstance(child, ast.Constant)
                and isinstance(child.value, str)
                and ADVISORY.search(child.value)
            ):
                # the SQL may be run anywhere in its function (or, at module level, in its file)
                first, last = span or (1, len(lines))
                found.append((scope, child.lineno, first, last, "advisory"))
            visit(child, scope, span)

    visit(ast.parse(source, filename=str(path)), "", None)
    per_scope = Counter(scope for scope, *_ in found)
    seen: Counter[str] = Counter()
    sites = []
    for scope, line, first, last, kind in sorted(found, key=lambda f: f[1]):
        seen[scope] += 1
        suffix = f"#{seen[scope]}" if per_scope[scope] > 1 else ""
        site_id = f"{rel}::{scope or '<module>'}{suffix}"
        sites.append(LockSite(site_id, rel, line, first, last, lines[line - 1].strip(), kind))
    return sites


def lock_sites(root: Path = ROOT) -> list[LockSite]:
    """Every lock in the application code, in file and line order."""
    return [site for path in application_files(root) for site in _sites_in(path, root)]


@cache
def _sites_by_id() -> dict[str, LockSite]:
    return {site.id: site for site in lock_sites()}


# --- switching locks off ----------------------------------------------------------------------------

_disabled: dict[str, LockSite] = {}
hits: Counter[str] = Counter()  # site id -> times a disabled lock was reached
_installed = False


def _caller_site(kind: str) -> LockSite | None:
    """The disabled site the application frame calling us is on, if any."""
    frame = sys._getframe(2)
    while frame is not None:
        filename = Path(frame.f_code.co_filename)
        if filename.is_relative_to(ROOT) and ".venv" not in filename.parts:
            rel = filename.relative_to(ROOT).as_posix()
            for site in _disabled.values():
                if site.kind == kind and site.path == rel and site.first <= frame.f_lineno <= site.last:
                    return site
            if rel.split("/")[0] not in NOT_APPLICATION:
                return None  # the innermost application frame decides
        frame = frame.f_back
    return None


def _install() -> None:
    global _installed
    if _installed:
        return
    from django.db.backends.utils import CursorWrapper
    from django.db.models import QuerySet

    select_for_update = QuerySet.select_for_update

    def maybe_select_for_update(self: QuerySet, *args: Any, **kwargs: Any) -> QuerySet:
        if _disabled and (site := _caller_site("row")):
            hits[site.id] += 1
            return self._chain()  # the same rows, read without locking them
        return select_for_update(self, *args, **kwargs)

    execute = CursorWrapper.execute

    def maybe_execute(self: CursorWrapper, sql: Any, params: Any = None) -> Any:
        if _disabled and isinstance(sql, str) and ADVISORY.search(sql) and (site := _caller_site("advisory")):
            hits[site.id] += 1
            sql = ADVISORY.sub("num_nulls", sql)  # takes any arguments, locks nothing
        return execute(self, sql, params)

    QuerySet.select_for_update = maybe_select_for_update  # type: ignore[method-assign]
    CursorWrapper.execute = maybe_execute  # type: ignore[method-assign]
    _installed = True


def _site(site_id: str) -> LockSite:
    try:
        return _sites_by_id()[site_id]
    except KeyError:
        raise LookupError(
            f"no lock {site_id!r} in the code; the locks are: {sorted(_sites_by_id())}"
        ) from None


@contextlib.contextmanager
def locks_disabled(*site_ids: str) -> Iterator[None]:
    """The named locks are no-ops inside the block; each must be reached, or the control tests
    nothing."""
    sites = {site_id: _site(site_id) for site_id in site_ids}
    _install()
    before = Counter(hits)
    added = {site_id: site for site_id, site in sites.items() if site_id not in _disabled}
    _disabled.update(added)
    try:
        yield
    finally:
        for site_id in added:
            del _disabled[site_id]
    missed = [site_id for site_id in site_ids if hits[site_id] == before[site_id]]
    assert not missed, f"the disabled lock(s) {missed} were never reached"


def unless(locked: bool, *site_ids: str) -> contextlib.AbstractContextManager[None]:
    """``locks_disabled(*site_ids)`` for the control (``locked`` False), nothing otherwise."""
    return contextlib.nullcontext() if locked else locks_disabled(*site_ids)


# --- pytest plugin for tests/locks.py ---------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    wanted = [s for s in os.environ.get("LOCKS_DISABLED", "").split(",") if s]
    if wanted:
        _install()
        _disabled.update({site_id: _site(site_id) for site_id in wanted})


def pytest_unconfigure(config: pytest.Config) -> None:
    if path := os.environ.get("LOCKS_HITS"):
        Path(path).write_text(
            "".join(f"{site_id}\t{hits[site_id]}\n" for site_id in _disabled), encoding="utf-8"
        )
