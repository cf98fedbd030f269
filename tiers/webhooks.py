"""What tier moves tell partners' webhooks (``members.webhooks``): ``tier.changed`` when a
member's effective tier moved (an operator's record without a move is not an event)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from members.webhooks.models import EventType
from members.webhooks.services import Fact, webhook_emit
from tiers.models import Tier, TierChange


def changes_emit(changes: Sequence[TierChange], at: datetime.datetime) -> None:
    """In the caller's transaction, for saved changes; keyed by the change record."""
    moved = [change for change in changes if change.from_tier_id != change.to_tier_id]
    if not moved:
        return

    def facts() -> list[Fact]:
        codes = dict(Tier.objects.values_list("pk", "code"))
        return [
            Fact(
                change.member_id,
                str(change.pk),
                {
                    "from_tier": codes.get(change.from_tier_id) if change.from_tier_id else None,
                    "to_tier": codes[change.to_tier_id],
                    "reason": change.reason,
                },
            )
            for change in moved
        ]

    webhook_emit(EventType.TIER_CHANGED, facts, at=at)
