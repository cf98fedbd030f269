"""Races for PostgreSQL concurrency tests: threads released together, each on its own connection."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connections

TIMEOUT = 120  # seconds for all threads of one race; a deadlock or a lost wake-up fails the test


def race(count: int, work: Callable[[int], Any], timeout: float = TIMEOUT) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released together; results or exceptions, in order.

    Fails if any thread is still running after ``timeout`` seconds (a deadlock or a hang).
    """
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(deadline - time.monotonic(), 0))
    stuck = sum(t.is_alive() for t in threads)
    assert not stuck, f"{stuck} of {count} threads still running after {timeout}s: deadlock or hang"
    return results
