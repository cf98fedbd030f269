"""Send rates shared by every worker process.

A gateway's limit is the brand's, not a worker's: four workers each keeping 50 a second would send
200. So each channel's rate lives in one database row (``SendRate``): ``next_at``, the next free
send slot. A worker reserves the slot with one conditional UPDATE, ``SET next_at =
max(next_at, now) + 1/rate WHERE channel = … AND next_at <= now + wait RETURNING next_at``, and
sleeps until its slot comes. PostgreSQL makes a second UPDATE of the row wait for the first and
re-check its condition on the row the first wrote, and SQLite runs one writer at a time, so two
workers asking at once get two different slots. The database, not the cache, because it is
shared on both (a `make run` worker and web process share SQLite; the default cache is per
process) and needs no server of its own.

Slots are exactly 1/rate apart, so no second holds more than ``rate`` of them, and a busy channel
gets its whole rate (the next slot follows the last one, not the moment a worker woke up). An idle
channel saves nothing up: its next slot is now. Worker clocks should agree (NTP): a clock ahead
only slows the channel, one behind lets sends come that much closer together.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.db import connection

from members.messaging.models import SendRate


def rate_take(
    channel: str,
    per_second: float,
    *,
    wait: float,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> float | None:
    """Reserve the channel's next send slot if it comes within ``wait`` seconds, and sleep until
    it; returns the slot's moment (``clock`` time), or None (nothing reserved) when it is further
    away. Run it outside a transaction: the row stays locked until the transaction ends, so inside
    a long one every other worker of the channel would wait for it."""
    gap = 1.0 / per_second
    table = connection.ops.quote_name(SendRate._meta.db_table)
    for _first_send in (False, True):
        now = clock()
        with connection.cursor() as cursor:
            # raw: the ORM's update() cannot say which slot it reserved (RETURNING)
            cursor.execute(
                f"UPDATE {table} SET next_at = (CASE WHEN next_at > %s THEN next_at ELSE %s END) + %s "
                "WHERE channel = %s AND next_at <= %s RETURNING next_at",
                [now, now, gap, channel, now + wait],
            )
            row = cursor.fetchone()
        if row is not None:
            slot = max(row[0] - gap, now)
            if slot > now:
                sleep(slot - now)
            return slot
        if SendRate.objects.filter(channel=channel).exists():
            return None  # the next free slot is further away than ``wait``
        # the channel's first send: its row (a second worker's insert is ignored)
        SendRate.objects.bulk_create([SendRate(channel=channel)], ignore_conflicts=True)
    return None
