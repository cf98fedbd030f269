"""Reads about members: "who is this?" and the store-scoped views of staff.

Resolution never guesses: several keys pointing at different members is ``AMBIGUOUS`` with
the candidates, no match is ``UNKNOWN``. The caller (till, importer, API) decides what to do.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from config.common.validation import FieldErrors
from members.models import Identity, Member, Store
from members.phones import try_normalize_mobile
from members.purchases.models import Purchase
from members.services import IdentityKey


class Outcome(enum.StrEnum):
    FOUND = "found"
    UNKNOWN = "unknown"
    AMBIGUOUS = "ambiguous"


@dataclass(frozen=True)
class Resolution:
    outcome: Outcome
    member: Member | None = None
    candidates: tuple[Member, ...] = ()
    # which of the given keys matched which member id, for explaining an ambiguity
    matches: dict[IdentityKey, int] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        return self.outcome is Outcome.FOUND


def _resolution(member_ids: Iterable[int], matches: dict[IdentityKey, int]) -> Resolution:
    ids = sorted(set(member_ids))
    if not ids:
        return Resolution(Outcome.UNKNOWN, matches=matches)
    members = tuple(Member.objects.filter(pk__in=ids).select_related("registration_store").order_by("pk"))
    if len(members) == 1:
        return Resolution(Outcome.FOUND, member=members[0], candidates=members, matches=matches)
    return Resolution(Outcome.AMBIGUOUS, candidates=members, matches=matches)


def member_resolve(keys: Iterable[IdentityKey]) -> Resolution:
    """Who do these identities (all of them about one person) point to?

    Keys that cannot be normalised (a malformed phone) are ignored as non-matching; keys
    that match agree (FOUND) or disagree (AMBIGUOUS with every candidate).
    """
    normalized: list[IdentityKey] = []
    for key in keys:
        try:
            nk = key.normalized()
        except ValidationError:
            continue
        if nk.value:
            normalized.append(nk)
    if not normalized:
        return Resolution(Outcome.UNKNOWN)
    condition = Q()
    for key in normalized:
        condition |= Q(kind=key.kind, namespace=key.namespace, value=key.value)
    matches = {
        IdentityKey(kind, value, namespace): member_id
        for kind, namespace, value, member_id in Identity.objects.filter(condition).values_list(
            "kind", "namespace", "value", "member_id"
        )
    }
    return _resolution(matches.values(), matches)


def member_lookup(query: str) -> Resolution:
    """Resolve what someone typed or scanned at the counter: phone, card, member number or any id."""
    text = (query or "").strip()
    if not text:
        return Resolution(Outcome.UNKNOWN)
    condition = Q(value=text) | Q(kind=Identity.Kind.CARD, value=text.upper())
    phone = try_normalize_mobile(text)
    if phone:
        condition |= Q(kind=Identity.Kind.PHONE, value=phone)
    ids = set(Identity.objects.filter(condition).values_list("member_id", flat=True))
    ids.update(Member.objects.filter(member_number=text).values_list("pk", flat=True))
    return _resolution(ids, {})


def sees_every_store(user: User) -> bool:
    """Roles that browse members (operators, finance, approvers) read every store's data."""
    return user.is_superuser or user.has_perm("members.browse_member")


def stores_of(user: User) -> QuerySet[Store]:
    """The stores a staff user works at (all stores for users who see everything).

    An API partner acts through an inactive service user: its stores are the partner's.
    """
    if not user.is_active and hasattr(user, "partner"):
        return user.partner.stores.filter(is_active=True)
    if sees_every_store(user):
        return Store.objects.all()
    return Store.objects.filter(staff=user)


def members_of_stores(stores: QuerySet[Store]) -> Q:
    """Members a store serves: registered there, or bought there at least once.

    A condition on ``Member`` (for a queryset of members, or ``member__in=`` of others); the
    purchase test is an EXISTS on the (member, ...) index, so it stays cheap per member.
    """
    bought = Purchase.objects.filter(member=OuterRef("pk"), store__in=stores)
    return Q(registration_store__in=stores) | Q(Exists(bought))


def members_visible_to(user: User, *, looked_up: Iterable[int] = ()) -> QuerySet[Member]:
    """The members whose pages ``user`` may open: everyone for roles that browse members; for
    store staff, the members of their stores plus those found by an exact lookup at the
    counter (``looked_up``: the customer gave their phone, card or number)."""
    if sees_every_store(user):
        return Member.objects.all()
    return Member.objects.filter(members_of_stores(stores_of(user)) | Q(pk__in=list(looked_up)))


def member_numbered(number: str, errors: FieldErrors, field: str) -> Member | None:
    """The member an operator named by number; None, with the reason added to ``errors`` under
    ``field``, when no member has it (forms asking for members by number report every one)."""
    member = Member.objects.filter(member_number=number.strip()).first()
    if member is None:
        errors.add(field, _("No member has number %(number)s.") % {"number": number.strip()})
    return member
