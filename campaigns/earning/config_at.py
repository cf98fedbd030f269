"""The earning settings in effect at a moment: today's rows with the later changes undone.

Point types (return window, expiry), earning and behaviour rules, review limits and the tiers'
multipliers change under maker-checker (``config.common.governance``), each change dated from
when it took effect. A fact earns by the settings of its own time: a receipt of last month
imported today earns last month's rules, not today's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from campaigns.models import BehaviourRule, EarnRule, ReviewLimit
from config.common.governance import rows_as_of
from config.common.models import ConfigChange
from points.models import PointType
from tiers import selectors as tier_selectors
from tiers.models import Tier

#: What the engine reads whose changes take effect at a time.
EARNING_SETTINGS = (PointType, EarnRule, BehaviourRule, ReviewLimit, Tier)


@dataclass
class EarningSettings:
    point_types: dict[str, PointType]
    earn_rules: list[EarnRule]
    behaviour_rules: dict[int, list[BehaviourRule]]  # event type id -> rules
    tiers: list[Tier]  # by rank, the entry tier first
    review_limits: list[ReviewLimit]


def earning_settings(later: Sequence[ConfigChange] = ()) -> EarningSettings:
    """The settings now, or with ``later`` changes undone (the latest first)."""
    if not later:
        types = list(PointType.objects.all())
        earn = list(EarnRule.objects.filter(active=True))
        behaviour = list(BehaviourRule.objects.filter(active=True).select_related("event_type"))
        limits = list(ReviewLimit.objects.filter(active=True))
        tiers = tier_selectors.ladder()
    else:
        # inactive rows too: a rule switched off since was on then
        types = rows_as_of(PointType, PointType.objects.all(), later)
        earn = [r for r in rows_as_of(EarnRule, EarnRule.objects.all(), later) if r.active]
        behaviour = [
            r
            for r in rows_as_of(BehaviourRule, BehaviourRule.objects.select_related("event_type"), later)
            if r.active
        ]
        limits = [r for r in rows_as_of(ReviewLimit, ReviewLimit.objects.all(), later) if r.active]
        tiers = sorted(rows_as_of(Tier, Tier.objects.all(), later), key=lambda tier: tier.rank)
        if not tiers or tiers[0].rank != 0:
            raise Tier.DoesNotExist("no entry tier (rank 0) was configured then")
    by_pk = {point_type.pk: point_type for point_type in types}
    rules: list[EarnRule | BehaviourRule | ReviewLimit] = [*earn, *behaviour, *limits]
    for rule in rules:
        rule.point_type = by_pk[rule.point_type_id]  # the type as it was, read once
    behaviour_rules: dict[int, list[BehaviourRule]] = {}
    for rule in sorted(behaviour, key=lambda r: r.pk):
        behaviour_rules.setdefault(rule.event_type_id, []).append(rule)
    return EarningSettings(
        point_types={pt.code: pt for pt in types},
        earn_rules=earn,
        behaviour_rules=behaviour_rules,
        tiers=tiers,
        review_limits=limits,
    )
