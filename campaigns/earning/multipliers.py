"""The earn multipliers tiers and paid plans hold: benefits of kind earn multiplier, entitled."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from benefits.models import Benefit, Entitlement
from tiers.models import Plan, Tier


@dataclass(frozen=True)
class HeldMultiplier:
    """An earn-multiplier benefit a tier or paid plan holds (an active entitlement to it)."""

    value: Decimal
    benefit: str
    holder: str  # the tier's or plan's name
    birthday_month: bool = False  # the entitlement's period: only in the member's birthday month


def held_multipliers() -> dict[tuple[str, int], list[HeldMultiplier]]:
    """Active entitlements of tiers and plans to active earn-multiplier benefits (one query)."""
    held: dict[tuple[str, int], list[HeldMultiplier]] = {}
    entitlements = Entitlement.objects.filter(
        active=True, benefit__active=True, benefit__kind=Benefit.Kind.EARN_MULTIPLIER
    ).select_related("benefit", "tier", "plan")
    for entitlement in entitlements.order_by("pk"):
        # An entitlement belongs to a tier or to a plan (a check constraint).
        owner: Tier | Plan | None = entitlement.tier or entitlement.plan
        if owner is None:
            continue
        holder = ("tier" if entitlement.tier_id else "plan", owner.pk)
        held.setdefault(holder, []).append(
            HeldMultiplier(
                value=entitlement.benefit.value,
                benefit=entitlement.benefit.name,
                holder=owner.name,
                birthday_month=entitlement.period == Entitlement.Period.BIRTHDAY,
            )
        )
    return held
