"""A member merge's tiers (``members.oneid``): the survivor keeps the better of each grant.

- earned: the higher earned tier, with its qualification period (its start and review date);
- manual override: the absorbed member's, when it is higher than the survivor's and still runs;
- paid plan: the higher plan tier, until the later end; the subscriptions and plan orders move.

The effective tier is worked out again from those (``settle``) and recorded as a tier change
"member merge". What the absorbed member earned keeps counting toward the survivor's tier at
its next review (``tiers.selectors._member_and_absorbed``).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from members.models import Member
from tiers import selectors
from tiers.models import MemberTier, PlanOrder, Subscription, TierChange, TierPolicy
from tiers.services import lock_statuses, settle


def tiers_merge(merge: Any) -> None:
    absorbed, survivor = merge.absorbed, merge.survivor
    merge.note("subscriptions", Subscription.objects.filter(member=absorbed).update(member=survivor))
    merge.note("plan_orders", PlanOrder.objects.filter(member=absorbed).update(member=survivor))
    if not MemberTier.objects.filter(member=absorbed).exists():
        return
    ladder = selectors.ladder()
    tiers = {tier.pk: tier for tier in ladder}
    statuses = lock_statuses([absorbed, survivor], merge.at, TierPolicy.current(), ladder[0])
    theirs, ours = statuses[absorbed.pk], statuses[survivor.pk]
    earned_before = ours.earned_tier_id

    def rank(tier_id: int | None) -> int:
        return tiers[tier_id].rank if tier_id else -1

    if rank(theirs.earned_tier_id) > rank(ours.earned_tier_id):
        ours.earned_tier_id = theirs.earned_tier_id
        ours.period_start, ours.valid_until = theirs.period_start, theirs.valid_until
    if (
        theirs.override_tier_id
        and theirs.override_until
        and theirs.override_until > merge.at
        and rank(theirs.override_tier_id) > rank(ours.override_tier_id)
    ):
        ours.override_tier_id, ours.override_until = theirs.override_tier_id, theirs.override_until
        ours.override_reason = theirs.override_reason
    if theirs.plan_tier_id and theirs.plan_until and theirs.plan_until > merge.at:
        if rank(theirs.plan_tier_id) > rank(ours.plan_tier_id):
            ours.plan_tier_id = theirs.plan_tier_id
        ours.plan_until = max(filter(None, [ours.plan_until, theirs.plan_until]))
    change = settle(
        ours,
        merge.at,
        tiers,
        earned_before=earned_before,
        reason=TierChange.Reason.MERGE,
        note=_("Merged with %(number)s") % {"number": absorbed.member_number},
        actor=merge.actor,
    )
    ours.save()
    theirs.delete()  # a closed record holds no tier: reports count the person once
    if change is not None:
        change.save()
        merge.note("tier", 1, tiers[ours.tier_id].name)


def tiers_merge_needs_approval(survivor: Member, absorbed: Member) -> list[str]:
    """A member holding a tier above the entry tier moves it only with a second person's approval."""
    status = MemberTier.objects.filter(member=absorbed, tier__rank__gt=0).select_related("tier").first()
    if status is None:
        return []
    return [
        _("Member %(number)s holds the tier %(tier)s.")
        % {"number": absorbed.member_number, "tier": status.tier.name}
    ]
