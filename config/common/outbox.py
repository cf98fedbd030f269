"""Pieces the outboxes share (messages to members, webhooks to partners): the retry schedule and
the HMAC-SHA256 signature over "timestamp.body" that callbacks and webhooks carry.

The claim itself (``select_for_update(skip_locked=True)`` under a lease) stays in each outbox's
service: it is a lock, and every lock is found and proved where it is written (tests/locks.py).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac

#: How far a signed request's timestamp may be from now before it counts as a replay.
REPLAY_WINDOW = datetime.timedelta(minutes=5)


def backoff(attempts: int, *, first: int, cap: int) -> datetime.timedelta:
    """The wait after the ``attempts``-th failed attempt: ``first`` seconds, then twice as long
    each time, at most ``cap`` seconds."""
    return datetime.timedelta(seconds=min(first * 2 ** max(attempts - 1, 0), cap))


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``timestamp.body`` keyed with ``secret``."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_fresh(timestamp: str, now: datetime.datetime) -> bool:
    """Whether a Unix timestamp (digits) is within ``REPLAY_WINDOW`` of ``now``."""
    if not timestamp.isdigit():
        return False
    moment = datetime.datetime.fromtimestamp(int(timestamp), tz=datetime.UTC)
    return abs(now - moment) <= REPLAY_WINDOW
