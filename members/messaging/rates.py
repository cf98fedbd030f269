"""Send rates shared by every worker process.

A gateway's limit is the brand's, not a worker's: four workers each keeping 50 a second would send
200. So each channel's rate lives in one database row (``SendRate``): ``next_at``, the earliest
moment its next message may go. Taking a send slot is one conditional UPDATE,
``SET next_at = now + 1/rate WHERE channel = … AND next_at <= now``: PostgreSQL makes a second
UPDATE of the row wait for the first and re-check its condition on the row the first wrote, and
SQLite runs one writer at a time, so of two workers asking at once exactly one gets the slot.
The database, not the cache, because it is shared on both (a `make run` worker and web process
share SQLite; the default cache is per process) and needs no server of its own.

Two slots are at least 1/rate apart, so any one second holds at most ``rate`` sends (a slot taken
late is not made up, so the rate reached is a little under). Worker clocks should agree (NTP): a
clock ahead only slows the channel, one behind lets sends come that much closer together.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from members.messaging.models import SendRate


def rate_take(
    channel: str,
    per_second: float,
    *,
    wait: float,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> float | None:
    """Take the channel's next send slot, waiting up to ``wait`` seconds for it; returns the
    moment it was taken (``clock`` time), or None when none came in time. Run it outside a
    transaction: the row stays locked until the transaction ends, so inside a long one every
    other worker of the channel would wait for it."""
    gap = 1.0 / per_second
    deadline = clock() + wait
    while True:
        now = clock()
        if SendRate.objects.filter(channel=channel, next_at__lte=now).update(next_at=now + gap):
            return now
        next_at = SendRate.objects.filter(channel=channel).values_list("next_at", flat=True).first()
        if next_at is None:  # the channel's first send: its row (a second worker's insert is ignored)
            SendRate.objects.bulk_create([SendRate(channel=channel)], ignore_conflicts=True)
            continue
        if next_at > deadline:
            return None
        # at least a millisecond: the slot another worker took just now may come free later
        sleep(max(next_at - now, 0.001))
