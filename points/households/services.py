"""Households: create, join, leave, dissolve, change the rules, and give points to the head.

Every change locks the household row first (then, where points move, the accounts in primary-key
order), as a pool spend does: a spend sees the members before or after a change, never between.

Leaving settles by the household's rule (``Household.OnLeave``):

- ``keep``: nothing moves. The member keeps the points in their own account; what they gave the
  head stays with the head.
- ``return``: what the member gave the head (``household_transfer_to_head``) and is still in the
  head's lots it arrived in, unspent and unexpired, goes back to the member as a pair of
  ``transfer`` entries keeping the expiry dates, keyed ``household:<membership>:settle``. Points
  the head spent meanwhile are not owed back (the head spends soonest-expiring points first,
  whoever gave them); expired ones were expired by the expiry job, with its entries.

The head cannot leave; dissolving the household settles every member as leaving would, then ends
the head's membership. Pool draws are finished spends: nothing of them is settled (a later refund
still gives each giver their points back).
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Member
from points.households.errors import HouseholdRefused
from points.households.models import Household, HouseholdMembership, HouseholdTransfer
from points.households.pool import receive_by_expiry
from points.households.selectors import membership_of
from points.models import Entry, Lot, PointType, Source
from points.services import points_transfer
from points.services.common import (
    apply_incoming,
    fingerprint,
    key_conflict,
    lock_accounts,
    post_entry,
    record_taking,
    require_key,
    require_positive,
    save_account,
    take,
)

POINTS = "points"


def _eligible(member: Member, field: str) -> None:
    if member.merged_into_id is not None or member.status == Member.Status.CLOSED:
        raise ValidationError(
            {field: _("Member %(number)s is closed or merged: it cannot be in a household.") % {
                "number": member.member_number}}
        )  # fmt: skip


def _not_elsewhere(member: Member, field: str) -> None:
    if (current := membership_of(member)) is not None:
        raise ValidationError(
            {
                field: _("Member %(number)s is already in the household %(household)s.")
                % {"number": member.member_number, "household": current.household.name}
            }
        )


def _history_by(household: Household, actor: Any) -> None:
    if getattr(actor, "pk", None):
        household._history_user = actor


def _validate_rules(monthly_cap: int) -> None:
    if not isinstance(monthly_cap, int) or isinstance(monthly_cap, bool) or monthly_cap < 0:
        raise ValidationError({"monthly_cap": _("Give a whole number of points, 0 or more.")})


def household_create(
    *,
    name: str,
    head: Member,
    pool_spenders: str = Household.Spenders.HEAD,
    monthly_cap: int = 0,
    on_leave: str = Household.OnLeave.KEEP,
    actor: Any = None,
    at: datetime.datetime | None = None,
) -> Household:
    """A new household with ``head`` as its first member."""
    at = at or timezone.now()
    if not name.strip():
        raise ValidationError({"name": _("Give the household a name.")})
    _validate_rules(monthly_cap)
    _eligible(head, "head")
    _not_elsewhere(head, "head")
    with transaction.atomic():
        household = Household(
            name=name.strip(), head=head, pool_spenders=pool_spenders, monthly_cap=monthly_cap,
            on_leave=on_leave, created_at=at,
        )  # fmt: skip
        household.full_clean(exclude=["head"])
        _history_by(household, actor)
        household.save()
        try:
            with transaction.atomic():
                HouseholdMembership.objects.create(
                    household=household, member=head, role=HouseholdMembership.Role.HEAD, joined_at=at
                )
        except IntegrityError:  # joined another household in a concurrent request
            _not_elsewhere(head, "head")
            raise
    return household


def household_update(
    household: Household,
    *,
    name: str,
    pool_spenders: str,
    monthly_cap: int,
    on_leave: str,
    actor: Any = None,
) -> Household:
    """Change the name or the rules; spends from now on follow the new rules (a spend holds the
    household's row lock, so it runs wholly under the old rules or the new ones)."""
    _validate_rules(monthly_cap)
    if not name.strip():
        raise ValidationError({"name": _("Give the household a name.")})
    if (
        Household.objects.filter(pk=household.pk).values_list("status", flat=True).get()
        != Household.Status.ACTIVE
    ):
        raise HouseholdRefused(_("The household %(name)s was dissolved.") % {"name": household.name})
    household.name, household.pool_spenders = name.strip(), pool_spenders
    household.monthly_cap, household.on_leave = monthly_cap, on_leave
    household.full_clean(exclude=["head"])
    _history_by(household, actor)
    # only the rules: a concurrent dissolve's status stays as it wrote it
    household.save(update_fields=["name", "pool_spenders", "monthly_cap", "on_leave"])
    return household


def _locked_active(household: Household) -> Household:
    household = Household.objects.select_for_update().get(pk=household.pk)
    if household.status != Household.Status.ACTIVE:
        raise HouseholdRefused(_("The household %(name)s was dissolved.") % {"name": household.name})
    return household


def household_join(
    *, household: Household, member: Member, at: datetime.datetime | None = None
) -> HouseholdMembership:
    """Add ``member``; a member is in one household at a time (the database says so too)."""
    at = at or timezone.now()
    _eligible(member, "member")
    with transaction.atomic():
        household = _locked_active(household)
        _not_elsewhere(member, "member")
        try:
            with transaction.atomic():
                return HouseholdMembership.objects.create(household=household, member=member, joined_at=at)
        except IntegrityError:  # joined another household in a concurrent request
            _not_elsewhere(member, "member")
            raise


def household_leave(
    *, member: Member, actor: Any = None, at: datetime.datetime | None = None
) -> HouseholdMembership:
    """The member leaves their household, settled by its rule (module doc)."""
    at = at or timezone.now()
    membership = membership_of(member)
    if membership is None:
        raise ValidationError(
            {"member": _("Member %(number)s is in no household.") % {"number": member.member_number}}
        )
    with transaction.atomic():
        household = _locked_active(membership.household)
        membership = HouseholdMembership.objects.select_related("member").get(pk=membership.pk)
        if membership.left_at is not None:
            raise ValidationError({"member": _("Member %(number)s has left the household already.") % {
                "number": member.member_number}})  # fmt: skip
        if membership.role == HouseholdMembership.Role.HEAD:
            raise HouseholdRefused(_("The head cannot leave the household: dissolve it instead."))
        _leave(household, membership, actor, at)
    return membership


def _leave(household: Household, membership: HouseholdMembership, actor: Any, at: datetime.datetime) -> None:
    if household.on_leave == Household.OnLeave.RETURN and membership.role != HouseholdMembership.Role.HEAD:
        membership.settled_points = _return_transfers(household, membership, actor, at)
    membership.left_at = at
    membership.save(update_fields=["left_at", "settled_points"])


def _return_transfers(
    household: Household, membership: HouseholdMembership, actor: Any, at: datetime.datetime
) -> int:
    """Give the member back what is left, unspent and unexpired, of what they gave the head."""
    point_type = PointType.objects.get(code=POINTS)
    member = membership.member
    accounts = lock_accounts([household.head_id, member.pk], point_type)
    head, own = accounts[household.head_id], accounts[member.pk]
    given = HouseholdTransfer.objects.filter(household=household, member=member).values("in_entry")
    lots = list(
        Lot.objects.filter(account=head, entry__in=given, status=Lot.Status.AVAILABLE, remaining__gt=0)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at))
        .order_by("expires_at", "id")
    )
    total = sum(lot.remaining for lot in lots)
    if not total:
        return 0
    taking = take(lots, total)
    head.available -= total
    reason = (_("Household %(name)s: given to the head, returned on leaving") % {"name": household.name})[
        :200
    ]
    common = {
        "source": Source.SYSTEM, "actor": actor, "reason": reason, "at": at,
        "digest": fingerprint(op="household-settle", membership=membership.pk, amount=total),
    }  # fmt: skip
    out = post_entry(
        head, kind=Entry.Kind.TRANSFER, amount=-total, source_ref=f"to:{member.member_number}",
        key=f"household:{membership.pk}:settle:out", **common,
    )  # fmt: skip
    record_taking(out, taking)
    repay = apply_incoming(own, total, pending=False)
    into = post_entry(
        own, kind=Entry.Kind.TRANSFER, amount=total, source_ref=f"from:{household.head.member_number}",
        key=f"household:{membership.pk}:settle:in", **common,
    )  # fmt: skip
    receive_by_expiry(own, into, taking.parts, repay=repay, at=at)
    save_account(head, at)
    save_account(own, at)
    return total


def household_dissolve(
    household: Household, *, actor: Any = None, at: datetime.datetime | None = None
) -> Household:
    """End the household: every member leaves as the rule settles it, then the head."""
    at = at or timezone.now()
    with transaction.atomic():
        household = _locked_active(household)
        memberships = list(
            household.memberships.filter(left_at__isnull=True)
            .select_related("member")
            .order_by("joined_at", "pk")
        )
        for membership in sorted(memberships, key=lambda m: m.role == HouseholdMembership.Role.HEAD):
            _leave(household, membership, actor, at)
        household.status, household.dissolved_at = Household.Status.DISSOLVED, at
        _history_by(household, actor)
        household.save(update_fields=["status", "dissolved_at"])
    return household


def household_transfer_to_head(
    *,
    member: Member,
    points: int,
    idempotency_key: str,
    actor: Any = None,
    at: datetime.datetime | None = None,
) -> HouseholdTransfer:
    """Give ``points`` of the member's spendable points to the head of their household: a pair
    of ``transfer`` entries (``points_transfer``: the head's new lots keep their expiry dates
    and say from whom). A retry with the same key returns the first transfer."""
    require_positive(points, "points")
    require_key(idempotency_key)
    at = at or timezone.now()
    if done := _transfer_done(member, points, idempotency_key):
        return done
    membership = membership_of(member)
    if membership is None:
        raise ValidationError(
            {"member": _("Member %(number)s is in no household.") % {"number": member.member_number}}
        )
    with transaction.atomic():
        household = _locked_active(membership.household)
        if done := _transfer_done(member, points, idempotency_key):
            return done
        current = membership_of(member)
        if current is None or current.household_id != household.pk:
            raise HouseholdRefused(
                _("Member %(number)s left the household.") % {"number": member.member_number}
            )
        if current.role == HouseholdMembership.Role.HEAD:
            raise ValidationError({"member": _("The head cannot transfer points to themself.")})
        _out, into = points_transfer(
            from_member=member, to_member=household.head, point_type=POINTS, amount=points,
            idempotency_key=idempotency_key, actor=actor,
            reason=(_("Household %(name)s: given to the head") % {"name": household.name})[:200], at=at,
        )  # fmt: skip
        return HouseholdTransfer.objects.create(
            household=household, member=member, points=points, in_entry=into, idempotency_key=idempotency_key,
            actor=actor if getattr(actor, "pk", None) else None, created_at=at,
        )  # fmt: skip


def _transfer_done(member: Member, points: int, key: str) -> HouseholdTransfer | None:
    done = HouseholdTransfer.objects.filter(idempotency_key=key).first()
    if done is not None and (done.member_id != member.pk or done.points != points):
        raise key_conflict(key)
    return done
