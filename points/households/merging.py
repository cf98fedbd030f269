"""A member merge's household step (``members.oneid``): the absorbed record leaves its household.

Its points moved to the survivor in the points step, so nothing is settled; the survivor's own
household, if any, is not changed. The head of a household cannot be absorbed: dissolve the
household (or merge the other way round) first. No household lock is taken: the merge holds the
accounts already (a pool spend locks the household first, then the accounts), and a spend that
read the absorbed member as a giver finds its account empty once the merge has committed.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from members.oneid.services import MergeRefused
from points.households.models import HouseholdMembership


def households_merge(merge: Any) -> None:
    membership = (
        HouseholdMembership.objects.filter(member=merge.absorbed, left_at__isnull=True)
        .select_related("household")
        .first()
    )
    if membership is None:
        return
    if membership.role == HouseholdMembership.Role.HEAD:
        raise MergeRefused(
            _("Member %(number)s is the head of the household %(name)s: dissolve it first.")
            % {"number": merge.absorbed.member_number, "name": membership.household.name}
        )
    membership.left_at = merge.at
    membership.save(update_fields=["left_at"])
    merge.note("households", 1, membership.household.name)
