"""Blocks of rows and the threads that COPY them.

A block is what a few thousand members did (or a chunk of the members themselves): a buffer
per table. Rows get local ids as they are made; when the block is complete each table is
sorted by time and numbered from where the table's ids stand, so ids follow time within a
block as they do in a live database (a member's entries lie on different pages; a day's
entries lie together, once per block). References between rows (a lot's entry, an expiry's
lot) are mapped from local to real ids when the rows are rendered.

The writer's threads render and COPY a block while the main thread generates the next one, so
PostgreSQL ingests while Python generates. Each queue holds one block: with the two being
written and the one being made, memory stays at a few blocks (about a gigabyte) at any size.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, connections, transaction


class Rows:
    """One table's rows of a block, with the time that orders them (and local ids)."""

    __slots__ = ("ids", "rows", "times")

    def __init__(self) -> None:
        self.rows: list[Any] = []
        self.times: list[int] = []
        self.ids: list[int] = []  # local id -> real id, once numbered

    def add(self, row: Any, at: int) -> int:
        self.rows.append(row)
        self.times.append(at)
        return len(self.rows) - 1

    def __len__(self) -> int:
        return len(self.rows)

    def number(self, first: int) -> list[int]:
        """Give real ids from ``first`` in time order (ties keep the order rows were made in);
        returns the local ids in that order."""
        times = self.times
        order = sorted(range(len(times)), key=times.__getitem__)
        ids = [0] * len(order)
        for rank, local in enumerate(order):
            ids[local] = first + rank
        self.ids = ids
        return order


@dataclass
class Block:
    """The buffers of one block of members' activity."""

    purchases: Rows = field(default_factory=Rows)
    refunds: Rows = field(default_factory=Rows)
    events: Rows = field(default_factory=Rows)
    awards: Rows = field(default_factory=Rows)
    lines: Rows = field(default_factory=Rows)
    entries: Rows = field(default_factory=Rows)
    lots: Rows = field(default_factory=Rows)
    allocations: Rows = field(default_factory=Rows)
    coupons: Rows = field(default_factory=Rows)
    redemptions: Rows = field(default_factory=Rows)
    participations: Rows = field(default_factory=Rows)
    changes: Rows = field(default_factory=Rows)
    accounts: list[tuple] = field(default_factory=list)
    statuses: list[tuple] = field(default_factory=list)


class Ids:
    """The next id of each table: after the rows already there; sequences are set at the end."""

    def __init__(self, tables: Iterable[str]) -> None:
        self.next: dict[str, int] = {}
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
                self.next[table] = cursor.fetchone()[0]

    def take(self, table: str, count: int) -> int:
        first = self.next[table]
        self.next[table] = first + count
        return first


def sequences_reset(tables: Iterable[str]) -> None:
    """Each table's id sequence after its largest id, so the application goes on from there."""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, 'id'), GREATEST(MAX(id), 1), MAX(id) IS NOT NULL) "
                f"FROM {table}",
                [table],
            )


#: (table, columns, rows): one COPY
Copy = tuple[str, tuple[str, ...], Iterable[tuple]]
#: a block: COPYs of rows others refer to, then COPYs of rows that refer to them
Stages = tuple[list[Copy], list[Copy]]


class Writer:
    """COPYs blocks in two threads, each on its own connection, one transaction per block and
    stage: the first writes a block's referenced rows (purchases, entries, …), then hands the
    block to the second for the rows that refer to them (lots, award lines, …) and goes on with
    the next block. Foreign keys are checked at commit, and a block's referenced rows are
    committed before its referring ones. Index upkeep is most of COPY's cost here, so two
    connections let PostgreSQL use two cores."""

    def __init__(self, depth: int = 1, *, unchecked: bool = False) -> None:
        self.unchecked = unchecked
        self.first: queue.Queue[Stages | None] = queue.Queue(maxsize=depth)
        self.second: queue.Queue[list[Copy] | None] = queue.Queue(maxsize=depth)
        self.counts: dict[str, int] = {}
        self.error: BaseException | None = None
        self.threads = [
            threading.Thread(
                target=self._run, args=(self.first, self.second), name="seed-copy-1", daemon=True
            ),
            threading.Thread(target=self._run, args=(self.second, None), name="seed-copy-2", daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    def put(self, stages: Stages) -> None:
        self._put(self.first, stages)

    def _put(self, into: queue.Queue, item: Any) -> None:
        while True:
            if self.error is not None:
                raise RuntimeError("a COPY thread failed") from self.error
            try:
                into.put(item, timeout=1)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """Wait for every queued block to be written; raise what a thread raised."""
        self._put(self.first, None)
        for thread in self.threads:
            thread.join()
        if self.error is not None:
            raise RuntimeError("a COPY thread failed") from self.error

    def abandon(self) -> None:
        """After a failure in the generating thread: let the threads end."""
        self.error = self.error or RuntimeError("abandoned")
        for into in (self.first, self.second):
            with contextlib.suppress(queue.Full):
                into.put_nowait(None)

    def _run(self, source: queue.Queue, then: queue.Queue | None) -> None:
        try:
            if self.unchecked:
                # Foreign keys unchecked: each check locks the row referred to (FOR KEY SHARE),
                # which cost as much as the insert itself. Superusers only; the generator makes
                # every reference, and tests/campaigns/test_seed_scale.py runs with the checks on.
                with connection.cursor() as cursor:
                    cursor.execute("SET session_replication_role = replica")
            while (item := source.get()) is not None:
                copies, rest = item if then is not None else (item, None)
                with transaction.atomic():
                    for table, columns, rows in copies:
                        counted = copy_rows(table, columns, rows)
                        with self.lock:
                            self.counts[table] = self.counts.get(table, 0) + counted
                if then is not None:
                    self._put(then, rest)
            if then is not None:
                then.put(None)
        except BaseException as exc:  # handed to the generating thread by put() and close()
            self.error = exc
            if then is not None:  # unless the second thread failed too: it finds the error then
                with contextlib.suppress(queue.Full):
                    then.put_nowait(None)
        finally:
            connections.close_all()

    lock = threading.Lock()


def copy_rows(table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> int:
    """COPY ``rows`` into ``table``; returns how many."""
    count = 0
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        write = copy.write_row
        for row in rows:
            write(row)
            count += 1
    return count
