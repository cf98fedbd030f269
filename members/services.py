"""Writes to members: enrol, update, identities, consents. Everything else calls these.

Errors are ``ValidationError`` keyed by field, so the admin, the importer and the API can
all show the operator which field is wrong and why, and nothing is written.
"""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

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


def _record_history(instance: Any, actor: Any, reason: str) -> None:
    # simple-history reads these on save; without a request (imports, API) they are the author.
    if actor is not None and getattr(actor, "pk", None):
        instance._history_user = actor
    instance._change_reason = reason


def _check_identity_free(key: IdentityKey, member: Member | None, errors: FieldErrors, field: str) -> None:
    owner = (
        Identity.objects.filter(kind=key.kind, namespace=key.namespace, value=key.value)
        .values_list("member_id", "member__member_number")
        .first()
    )
    if owner and (member is None or owner[0] != member.pk):
        errors.add(
            field,
            _("%(kind)s %(value)s already belongs to member %(number)s.")
            % {"kind": Identity.Kind(key.kind).label, "value": key.value, "number": owner[1]},
            code="identity_taken",
        )


def validate_mobile(raw: object, *, member: Member | None = None) -> str | None:
    """E.164 form of a member's new mobile (None for blank), or ValidationError on ``mobile``."""
    if not raw:
        return None
    errors = FieldErrors()
    e164 = errors.capture("mobile", normalize_mobile, raw)
    errors.raise_if_any()
    _check_identity_free(IdentityKey(Identity.Kind.PHONE, e164), member, errors, "mobile")
    errors.raise_if_any()
    return e164


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
    """Create a member with its phone, identities and consents, or change nothing."""
    errors = FieldErrors()
    e164 = errors.capture("mobile", normalize_mobile, mobile) if mobile else None
    keys = []
    if e164:
        keys.append(("mobile", IdentityKey(Identity.Kind.PHONE, e164)))
    for key in identities:
        normalized = errors.capture(key.kind, key.normalized)
        if normalized and normalized.value:
            keys.append((key.kind, normalized))
    seen: dict[tuple[str, str, str], str] = {}
    for field, key in keys:
        marker = (key.kind, key.namespace, key.value)
        if marker in seen:
            errors.add(field, _("%(value)s is given twice.") % {"value": key.value}, code="duplicate")
        seen[marker] = field
        _check_identity_free(key, None, errors, field)
    if birthday and birthday > timezone.localdate():
        errors.add("birthday", _("Birthday %(date)s is in the future.") % {"date": birthday})
    errors.raise_if_any()

    member = Member(
        name=name.strip(),
        mobile=e164,
        email=email.strip(),
        gender=gender,
        birthday=birthday,
        province=province.strip(),
        city=city.strip(),
        registration_channel=registration_channel,
        registration_store=registration_store,
    )
    member.full_clean(exclude=["member_number", "mobile"])
    _record_history(member, actor, source)
    try:
        with transaction.atomic():
            _enrol_rows(member, keys, tags, consents, actor, source)
    except IntegrityError:
        # A concurrent enrol took one of the ids between our check and our insert: the
        # database constraint decided, and the caller gets the same answer as the check.
        member.pk = None
        for field, key in keys:
            _check_identity_free(key, None, errors, field)
        errors.raise_if_any()
        raise
    return member


def _enrol_rows(
    member: Member,
    keys: list[tuple[str, IdentityKey]],
    tags: Iterable[Tag],
    consents: Mapping[str, bool] | None,
    actor: Any,
    source: str,
) -> None:
    _insert_with_new_number(member)
    Identity.objects.bulk_create(
        Identity(
            member=member,
            kind=key.kind,
            namespace=key.namespace,
            value=key.value,
            is_primary_phone=(field == "mobile"),
        )
        for field, key in keys
    )
    if tags:
        member.tags.add(*tags)
    for channel, granted in (consents or {}).items():
        if granted:
            member_set_consent(member=member, channel=channel, granted=True, actor=actor, source=source)


def _insert_with_new_number(member: Member, attempts: int = 5) -> None:
    for _attempt in range(attempts):
        member.member_number = new_member_number()
        try:
            with transaction.atomic():
                member.save(force_insert=True)
            return
        except IntegrityError:
            if not Member.objects.filter(member_number=member.member_number).exists():
                raise  # another constraint (e.g. a concurrent enrol took the phone)
    raise RuntimeError("Could not find a free member number; widen MEMBER_NUMBER_RANDOM_DIGITS.")


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
        _record_history(member, actor, source)
        member.save()
    return member


def identity_validate(*, member: Member | None, kind: str, value: str, namespace: str = "") -> IdentityKey:
    """The normalised key, or ValidationError on ``value`` when it is malformed or someone else's."""
    errors = FieldErrors()
    key = errors.capture("value", IdentityKey(kind, value, namespace).normalized)
    if key is not None and not key.value:
        errors.add("value", _("The identity value is empty."), code="empty")
    errors.raise_if_any()
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
    _record_history(identity, actor, source)
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
    _record_history(identity, actor, source)
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
    _record_history(member, actor, source)
    member.tags.set(list(tags))
