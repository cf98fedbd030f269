"""What the member domain tells the apps built on it, inside the transaction of each fact.

The member domain ranks below the webhooks outbox (which needs partners), so it cannot call it;
the outbox registers itself here when Django starts (``members.webhooks.apps``), as the earning
pipeline registers itself with the import framework. Listeners write in the caller's
transaction: a rolled-back fact leaves nothing.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence

#: ``listener(event_type, member_ids, at)``; event types: "member.created", "member.updated"
MEMBER_FACT_LISTENERS: list[Callable[[str, Sequence[int], datetime.datetime], None]] = []


def member_facts(event_type: str, member_ids: Sequence[int], at: datetime.datetime) -> None:
    for listener in MEMBER_FACT_LISTENERS:
        listener(event_type, member_ids, at)
