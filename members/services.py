"""Writes to members: enrol, update, identities, consents. Everything else calls these.

Errors are ``ValidationError`` keyed by field, so the admin, the importer and the API can
all show the operator which field is wrong and why, and nothing is written.

Enrolment has one write path, ``members_enrol`` (many at once: an import's chunk, seed data);
``member_enrol`` is it called with one enrolment.
"""

from __future__ import annotations

import datetime
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from config.common.bulk import bulk_set
from config.common.validation import FieldErrors
from members.models import Channel, ConsentChannel, ConsentRecord, Identity, Member, Store, Tag
from members.phones import normalize_mobile

MEMBER_NUMBER_PREFIX = "8"
MEMBER_NUMBER_RANDOM_DIGITS = 10


@dataclass(frozen=True)
class IdentityKey:
    """A value that names a member in another system (see ``Identity.Kind``)."""

    kind: str
    value: str
    namespace: str = ""

    def normalized(self) -> IdentityKey:
        return IdentityKey(self.kind, normalize_identity_value(self.kind, self.value), self.namespace.strip())


#: Told of each member fact inside its transaction: ``listener(event_type, member_ids, at)`` with
#: "member.created" or "member.updated". The webhooks outbox ranks above the member domain (it
#: needs partners), so it registers itself here when Django starts (``members.webhooks.apps``),
#: as the earning pipeline registers itself with the import framework.
MEMBER_FACT_LISTENERS: list[Callable[[str, Sequence[int], datetime.datetime], None]] = []


def member_facts(event_type: str, member_ids: Sequence[int], at: datetime.datetime) -> None:
    for listener in MEMBER_FACT_LISTENERS:
        listener(event_type, member_ids, at)


def normalize_identity_value(kind: str, value: object) -> str:
    """The form identities are stored and looked up in, so spelling variants still match."""
    text = str(value or "").strip()
    if kind == Identity.Kind.PHONE:
        return normalize_mobile(text)
    if kind == Identity.Kind.CARD:
        return text.upper()
    return text


def luhn_check_digit(digits: str) -> str:
    """Check digit that catches any single mistyped digit and most swaps at the till."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def new_member_number() -> str:
    """12 digits, random (no information about programme size leaks), Luhn-checked."""
    body = MEMBER_NUMBER_PREFIX + "".join(
        str(secrets.randbelow(10)) for _ in range(MEMBER_NUMBER_RANDOM_DIGITS)
    )
    return body + luhn_check_digit(body)


def record_history(instance: Any, actor: Any, reason: str) -> None:
    # simple-history reads these on save; without a request (imports, API) they are the author.
    if actor is not None and getattr(actor, "pk", None):
        instance._history_user = actor
    instance._change_reason = reason


def _owners(keys: Iterable[IdentityKey]) -> dict[tuple[str, str, str], tuple[int, str]]:
    """(kind, namespace, value) -> (member id, member number) of those already someone's: one
    query per kind and namespace."""
    wanted: dict[tuple[str, str], set[str]] = {}
    for key in keys:
        wanted.setdefault((key.kind, key.namespace), set()).add(key.value)
    owners = {}
    for (kind, namespace), values in wanted.items():
        found = Identity.objects.filter(kind=kind, namespace=namespace, value__in=values).values_list(
            "value", "member_id", "member__member_number"
        )
        for value, member_id, number in found:
            owners[(kind, namespace, value)] = (member_id, number)
    return owners


def _add_taken(errors: FieldErrors, field: str, key: IdentityKey, number: str) -> None:
    errors.add(
        field,
        _("%(kind)s %(value)s already belongs to member %(number)s.")
        % {"kind": Identity.Kind(key.kind).label, "value": key.value, "number": number},
        code="identity_taken",
    )


def _add_twice(errors: FieldErrors, field: str, key: IdentityKey) -> None:
    errors.add(field, _("%(value)s is given twice.") % {"value": key.value}, code="duplicate")


def _check_identity_free(key: IdentityKey, member: Member | None, errors: FieldErrors, field: str) -> None:
    owner = _owners([key]).get((key.kind, key.namespace, key.value))
    if owner and (member is None or owner[0] != member.pk):
        _add_taken(errors, field, key, owner[1])


def validate_mobile(raw: object, *, member: Member | None = None) -> str | None:
    """E.164 form of a member's new mobile (None for blank), or ValidationError on ``mobile``."""
    if not raw:
        return None
    errors = FieldErrors()
    e164 = errors.capture("mobile", normalize_mobile, raw)
    errors.raise_if_any()
    assert e164 is not None  # capture returned None only with an error, raised above
    _check_identity_free(IdentityKey(Identity.Kind.PHONE, e164), member, errors, "mobile")
    errors.raise_if_any()
    return e164


@dataclass
class Enrolment:
    """What ``member_enrol`` is given, for ``members_enrol``. ``status``, ``enrolled_at``
    (registered then, not now) and ``member_number`` (drawn by the caller, reproducibly; else
    here) are for members made elsewhere: seed data."""

    name: str = ""
    mobile: str | None = None
    email: str = ""
    gender: str = "unknown"
    birthday: datetime.date | None = None
    province: str = ""
    city: str = ""
    registration_channel: str = Channel.STORE
    registration_store_id: int | None = None
    identities: Iterable[IdentityKey] = ()
    consents: Mapping[str, bool] | None = None
    tags: Iterable[Tag] = ()
    status: str = Member.Status.ACTIVE
    enrolled_at: datetime.datetime | None = None
    member_number: str = ""


def member_enrol(
    *,
    name: str = "",
    mobile: str | None = None,
    email: str = "",
    gender: str = "unknown",
    birthday: datetime.date | None = None,
    province: str = "",
    city: str = "",
    registration_channel: str = Channel.STORE,
    registration_store: Store | None = None,
    identities: Iterable[IdentityKey] = (),
    consents: Mapping[str, bool] | None = None,
    tags: Iterable[Tag] = (),
    actor: Any = None,
    source: str = "admin",
) -> Member:
    """Create a member with its phone, identities and consents, or change nothing.
    ``members_enrol`` of one."""
    enrolment = Enrolment(
        name=name,
        mobile=mobile,
        email=email,
        gender=gender,
        birthday=birthday,
        province=province,
        city=city,
        registration_channel=registration_channel,
        registration_store_id=registration_store.pk if registration_store else None,
        identities=identities,
        consents=consents,
        tags=tags,
    )
    (outcome,) = members_enrol([enrolment], actor=actor, source=source)
    if isinstance(outcome, ValidationError):
        raise outcome
    if registration_store is not None:
        outcome.registration_store = registration_store  # the caller's instance: no query
    return outcome


@dataclass
class _Draft:
    """One enrolment being written: its member, unsaved until the insert, and its identities."""

    enrolment: Enrolment
    member: Member
    keys: list[tuple[str, IdentityKey]]  # (field named in errors, key)
    tags: list[Tag]
    errors: FieldErrors


def members_enrol(
    enrolments: list[Enrolment], *, actor: Any = None, source: str = "admin"
) -> list[Member | ValidationError]:
    """Create each member with its phone, identities, consents and tags, in a few statements (an
    import's chunk, seed data): per enrolment the member, or the ValidationError that refuses it
    (naming each field), in which case nothing of it was written. An identity given by two
    enrolments of one call is refused on the second, as two calls would refuse it."""
    now = timezone.now()
    drafts = [_enrol_draft(enrolment) for enrolment in enrolments]
    _check_free(drafts)
    for _attempt in range(5):
        good = [draft for draft in drafts if not draft.errors.errors]
        try:
            with transaction.atomic():
                _enrol_rows(good, actor, source, now)
            break
        except IntegrityError:
            # A concurrent enrol took one of the ids between our check and our insert (the
            # database constraint decided: the loser is told as the check would have told it),
            # or a new member number was drawn twice: drawn again.
            for draft in good:
                draft.member.pk = None
                draft.member._state.adding = True
            if not _check_free(good) and not _redraw_taken_numbers(good):
                raise
    else:
        raise RuntimeError("Could not find free member numbers; widen MEMBER_NUMBER_RANDOM_DIGITS.")
    return [ValidationError(draft.errors.errors) if draft.errors.errors else draft.member for draft in drafts]


def _enrol_draft(enrolment: Enrolment) -> _Draft:
    """The member of an enrolment and what is wrong with it on its own (not yet whether its ids
    are someone else's)."""
    errors = FieldErrors()
    e164 = errors.capture("mobile", normalize_mobile, enrolment.mobile) if enrolment.mobile else None
    keys = []
    if e164:
        keys.append(("mobile", IdentityKey(Identity.Kind.PHONE, e164)))
    for key in enrolment.identities:
        normalized = errors.capture(key.kind, key.normalized)
        if normalized and normalized.value:
            keys.append((key.kind, normalized))
    seen: set[tuple[str, str, str]] = set()
    for field, key in keys:
        marker = (key.kind, key.namespace, key.value)
        if marker in seen:
            _add_twice(errors, field, key)
        seen.add(marker)
    birthday = enrolment.birthday
    if birthday and birthday > timezone.localdate():
        errors.add("birthday", _("Birthday %(date)s is in the future.") % {"date": birthday})
    consents = enrolment.consents or {}
    for channel in consents:
        if channel not in ConsentChannel.values:
            errors.add("channel", _("Unknown consent channel %(channel)s.") % {"channel": channel})
    member = Member(
        name=enrolment.name.strip(),
        mobile=e164,
        email=enrolment.email.strip(),
        gender=enrolment.gender,
        birthday=birthday,
        province=enrolment.province.strip(),
        city=enrolment.city.strip(),
        registration_channel=enrolment.registration_channel,
        registration_store_id=enrolment.registration_store_id,
        status=enrolment.status,
        member_number=enrolment.member_number,
    )
    for channel, granted in consents.items():
        if channel in ConsentChannel.values:
            setattr(member, f"{channel}_consent", bool(granted))
    try:
        # The store is a row the caller found (the database's foreign key checks it anyway).
        member.full_clean(exclude=["member_number", "mobile", "registration_store"])
    except ValidationError as exc:
        for field, problems in exc.error_dict.items():
            errors.errors.setdefault(field, []).extend(problems)
    return _Draft(enrolment, member, keys, list(enrolment.tags), errors)


def _check_free(drafts: list[_Draft]) -> bool:
    """Refuse each draft whose ids are someone's already, or an earlier draft's (a draft refused
    for something else is told too: every problem at once); True if any draft was."""
    owners = _owners(key for draft in drafts for _field, key in draft.keys)
    claimed: set[tuple[str, str, str]] = set()
    refused = False
    for draft in drafts:
        before = bool(draft.errors.errors)
        for field, key in draft.keys:
            marker = (key.kind, key.namespace, key.value)
            if owner := owners.get(marker):
                _add_taken(draft.errors, field, key, owner[1])
            elif marker in claimed:
                _add_twice(draft.errors, field, key)
        if draft.errors.errors:
            refused = refused or not before
        else:
            claimed.update((key.kind, key.namespace, key.value) for _field, key in draft.keys)
    return refused


def _redraw_taken_numbers(drafts: list[_Draft]) -> bool:
    """Draw new numbers for drafts whose number someone has now; True if any had."""
    numbers = [draft.member.member_number for draft in drafts]
    taken = set(Member.objects.filter(member_number__in=numbers).values_list("member_number", flat=True))
    taken |= {number for number, times in Counter(numbers).items() if times > 1}
    for draft in drafts:
        if draft.member.member_number in taken:
            draft.member.member_number = new_member_number()
    return bool(taken)


def _enrol_rows(drafts: list[_Draft], actor: Any, source: str, now: datetime.datetime) -> None:
    if not drafts:
        return
    for draft in drafts:
        if not draft.member.member_number:
            draft.member.member_number = new_member_number()
    user = actor if getattr(actor, "pk", None) else None
    members = [draft.member for draft in drafts]
    # simple-history's rows too, with the author and the reason save() would record
    bulk_create_with_history(members, Member, default_user=user, default_change_reason=source)
    identities = [
        Identity(
            member=draft.member,
            kind=key.kind,
            namespace=key.namespace,
            value=key.value,
            is_primary_phone=(field == "mobile"),
        )
        for draft in drafts
        for field, key in draft.keys
    ]
    Identity.objects.bulk_create(identities)
    member_facts("member.created", [member.pk for member in members], now)
    ConsentRecord.objects.bulk_create(
        ConsentRecord(
            member=draft.member,
            channel=channel,
            granted=True,
            recorded_at=draft.enrolment.enrolled_at or now,
            source=source,
            actor=user,
        )
        for draft in drafts
        for channel, granted in (draft.enrolment.consents or {}).items()
        if granted
    )
    for draft in drafts:
        if draft.tags:
            draft.member._history_user, draft.member._change_reason = user, source
            draft.member.tags.add(*draft.tags)
    dated = [(draft.member, at) for draft in drafts if (at := draft.enrolment.enrolled_at)]
    if dated:  # registered before today (seed data): the stamps say when
        for member, at in dated:
            member.created_at = member.updated_at = at
        bulk_set([member for member, _at in dated], ["created_at", "updated_at"])
        dated_ids = {member.pk for member, _at in dated}
        backdated = [identity for identity in identities if identity.member_id in dated_ids]
        for identity in backdated:
            identity.created_at = identity.member.created_at
        bulk_set(backdated, ["created_at"])


PROFILE_FIELDS = ("name", "email", "gender", "birthday", "province", "city", "status", "registration_store")


def member_update(*, member: Member, actor: Any = None, source: str = "admin", **changes: Any) -> Member:
    """Change profile fields and/or the primary mobile; every change lands in the history."""
    unknown = set(changes) - set(PROFILE_FIELDS) - {"mobile"}
    if unknown:
        raise TypeError(f"member_update() got unknown fields: {', '.join(sorted(unknown))}")
    errors = FieldErrors()
    new_mobile: str | bool | None = False  # False: unchanged
    if "mobile" in changes:
        new_mobile = errors.capture("mobile", validate_mobile, changes.pop("mobile"), member=member)
    birthday = changes.get("birthday")
    if birthday and birthday > timezone.localdate():
        errors.add("birthday", _("Birthday %(date)s is in the future.") % {"date": birthday})
    errors.raise_if_any()

    with transaction.atomic():
        member = Member.objects.select_for_update().get(pk=member.pk)
        for field, value in changes.items():
            setattr(member, field, value.strip() if isinstance(value, str) else value)
        if new_mobile is not False and new_mobile != (member.mobile.as_e164 if member.mobile else None):
            member.mobile = new_mobile
            Identity.objects.filter(member=member, is_primary_phone=True).delete()
            if new_mobile:
                Identity.objects.filter(member=member, kind=Identity.Kind.PHONE, value=new_mobile).delete()
                Identity.objects.create(
                    member=member, kind=Identity.Kind.PHONE, value=new_mobile, is_primary_phone=True
                )
        member.full_clean(exclude=["member_number", "mobile", "tags"])
        record_history(member, actor, source)
        member.save()
        member_facts("member.updated", [member.pk], timezone.now())
    return member


def identity_validate(*, member: Member | None, kind: str, value: str, namespace: str = "") -> IdentityKey:
    """The normalised key, or ValidationError on ``value`` when it is malformed or someone else's."""
    errors = FieldErrors()
    key = errors.capture("value", IdentityKey(kind, value, namespace).normalized)
    if key is not None and not key.value:
        errors.add("value", _("The identity value is empty."), code="empty")
    errors.raise_if_any()
    assert key is not None  # capture returned None only with an error, raised above
    _check_identity_free(key, member, errors, "value")
    errors.raise_if_any()
    return key


def identity_attach(
    *, member: Member, kind: str, value: str, namespace: str = "", actor: Any = None, source: str = "admin"
) -> Identity:
    """Link an id to the member; attaching the same id again is a no-op, another member's is an error."""
    key = identity_validate(member=member, kind=kind, value=value, namespace=namespace)
    existing = Identity.objects.filter(kind=key.kind, namespace=key.namespace, value=key.value).first()
    if existing:
        if existing.member_id != member.pk:
            # attached to someone else since the validation above (a concurrent attach): say so
            identity_validate(member=member, kind=kind, value=value, namespace=namespace)
        return existing
    identity = Identity(member=member, kind=key.kind, namespace=key.namespace, value=key.value)
    record_history(identity, actor, source)
    try:
        with transaction.atomic():
            identity.save(force_insert=True)
    except IntegrityError:
        # lost a race with a concurrent attach: report it like the validation above would have
        identity_validate(member=member, kind=kind, value=value, namespace=namespace)
        raise
    return identity


def identity_detach(*, identity: Identity, actor: Any = None, source: str = "admin") -> None:
    """Remove a secondary id. The primary phone changes through ``member_update`` only."""
    if identity.is_primary_phone:
        FieldErrors.single("value", _("The primary phone is changed on the member, not removed here."))
    record_history(identity, actor, source)
    identity.delete()


def member_set_consent(
    *,
    member: Member,
    channel: str,
    granted: bool,
    actor: Any = None,
    source: str = "admin",
    at: datetime.datetime | None = None,
) -> ConsentRecord | None:
    """Give or withdraw marketing consent on one channel; returns the record, or None if unchanged."""
    if channel not in ConsentChannel.values:
        FieldErrors.single("channel", _("Unknown consent channel %(channel)s.") % {"channel": channel})
    field = f"{channel}_consent"
    with transaction.atomic():
        current = Member.objects.select_for_update().values_list(field, flat=True).get(pk=member.pk)
        if current == granted:
            return None
        Member.objects.filter(pk=member.pk).update(**{field: granted, "updated_at": timezone.now()})
        setattr(member, field, granted)
        return ConsentRecord.objects.create(
            member=member,
            channel=channel,
            granted=granted,
            recorded_at=at or timezone.now(),
            source=source,
            actor=actor if getattr(actor, "pk", None) else None,
        )


def member_set_tags(*, member: Member, tags: Iterable[Tag], actor: Any = None, source: str = "admin") -> None:
    """Replace the member's tags (recorded in the member history with the author)."""
    record_history(member, actor, source)
    member.tags.set(list(tags))
