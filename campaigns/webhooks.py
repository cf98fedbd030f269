"""What the earning pipeline tells partners' webhooks (``members.webhooks``): a purchase's award
posted (``purchase.awarded``) and a held award released after review (``review.released``).
Keyed by the award: each is posted once and released once."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from campaigns.models import Award
from members.webhooks.models import EventType
from members.webhooks.services import Fact, webhook_emit


def awards_emit(
    event_type: str, awards: Sequence[tuple[Award, dict[str, int]]], at: datetime.datetime
) -> None:
    """``(award, {point type code: points posted})`` per award, in the caller's transaction."""
    webhook_emit(
        event_type,
        lambda: [
            Fact(
                award.member_id,
                str(award.pk),
                {
                    "award_id": award.pk,
                    "purchase_id": award.purchase_id,
                    "occurred_at": award.occurred_at.isoformat() if award.occurred_at else None,
                    "points": points,
                },
            )
            for award, points in awards
        ],
        at=at,
    )


def purchase_awarded(award: Award, points: dict[str, int], at: datetime.datetime) -> None:
    if award.kind == Award.Kind.PURCHASE:
        awards_emit(EventType.PURCHASE_AWARDED, [(award, points)], at)


def review_released(award: Award, points: dict[str, int], at: datetime.datetime) -> None:
    awards_emit(EventType.REVIEW_RELEASED, [(award, points)], at)
