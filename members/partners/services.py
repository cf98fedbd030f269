"""Writes about partners: creating them and their keys, linking members, storing responses."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any, cast

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.common.validation import FieldErrors
from members.models import Channel, Identity, Member, Store
from members.partners.codes import first_party_only, member_code_required
from members.partners.models import IdempotentRequest, Partner, PartnerKey, PartnerKind, PartnerMember
from members.partners.selectors import partner_members
from members.phones import try_normalize_mobile
from members.referrals.services import member_device_record, member_ip_record, referral_link
from members.selectors import Outcome, Resolution, member_resolve
from members.services import (
    IdentityKey,
    identity_attach,
    member_enrol,
    member_facts,
    member_set_consent,
    member_update,
)

#: A partner's retry gets its first response back for at least this long (the issue: 24 hours).
IDEMPOTENCY_TTL = datetime.timedelta(hours=48)


def partner_create(
    *,
    code: str,
    name: str,
    grants: Iterable[str] = (),
    channels: Iterable[str] = (),
    stores: Iterable[Store] = (),
    rate_per_minute: int = 600,
    kind: str = PartnerKind.THIRD_PARTY,
) -> Partner:
    """A partner with its service user, through which its changes are recorded."""
    with transaction.atomic():
        user = service_user_for(code)
        partner = Partner(
            code=code,
            name=name,
            grants=sorted(set(grants)),
            channels=sorted(set(channels)),
            rate_per_minute=rate_per_minute,
            user=user,
            kind=kind,
        )
        partner.full_clean(exclude=["user"])
        partner.save()
        partner.stores.set(list(stores))
    return partner


def service_user_for(code: str) -> Any:
    """The (inactive, password-less) user a partner created in the admin acts through.

    A person's login that happens to be called ``api-<code>`` is never taken over.
    """
    user, created = get_user_model().objects.get_or_create(
        username=f"api-{code}", defaults={"is_active": False}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    elif user.is_active or user.has_usable_password() or hasattr(user, "partner"):
        FieldErrors.single(
            "code", _("The user name api-%(code)s is taken: choose another code.") % {"code": code}
        )
    return user


def key_create(
    *, partner: Partner, name: str, expires_at: datetime.datetime | None = None
) -> tuple[PartnerKey, str]:
    """A new key; the clear text is returned once and never stored."""
    key, text = PartnerKey.objects.create_key(partner=partner, name=name, expiry_date=expires_at)
    # The library types the key by its abstract base; PartnerKey's manager makes PartnerKeys.
    return cast(PartnerKey, key), text


def key_revoke(*, key: PartnerKey) -> None:
    PartnerKey.objects.filter(pk=key.pk).update(revoked=True)


def member_link(*, partner: Partner, member: Member) -> None:
    """Let the partner see this member from now on (idempotent)."""
    PartnerMember.objects.bulk_create([PartnerMember(partner=partner, member=member)], ignore_conflicts=True)


def registration_channel(partner: Partner, store: Store | None) -> str:
    """Where a member enrolled by the partner joined, when the partner does not say."""
    if store is not None:
        return Channel.STORE
    return partner.channels[0] if len(partner.channels) == 1 else Channel.PARTNER


def partner_event_key(partner: Partner, member: Member, event_type: str, key: str) -> str:
    """The stored key of a partner's event: its own (another partner's same key is another
    event); a registration counts once per member whoever reports it, keyed as the importer does."""
    if event_type == "registration":
        return member.member_number
    return f"{partner.source}:{key}"


def idempotency_claim(*, partner: Partner, key: str, fingerprint: str) -> IdempotentRequest | None:
    """Claim ``key`` for this request inside the caller's transaction, or return the stored answer.

    The insert is the lock: a concurrent request with the same key waits on the unique index
    until the first one's transaction ends, then finds its committed answer (or, if it rolled
    back, claims the key itself). Returns None when this request is the one to run.
    """
    try:
        with transaction.atomic():
            IdempotentRequest.objects.create(
                partner=partner, key=key, fingerprint=fingerprint, created_at=timezone.now()
            )
            return None
    except IntegrityError:
        return IdempotentRequest.objects.get(partner=partner, key=key)


def idempotency_store(
    *, partner: Partner, key: str, status_code: int, content_type: str, body: bytes
) -> None:
    IdempotentRequest.objects.filter(partner=partner, key=key).update(
        status_code=status_code, content_type=content_type, body=body
    )


def idempotency_purge(now: datetime.datetime | None = None) -> int:
    """Forget stored responses older than the retention (a daily job)."""
    cutoff = (now or timezone.now()) - IDEMPOTENCY_TTL
    deleted, _ = IdempotentRequest.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def _third_party_may_find(partner: Partner, keys: list[IdentityKey], resolution: Resolution) -> None:
    """A third-party partner's enrol-or-find of identities that are already someone's: allowed only
    for a member it may see already, and without adding identities to them."""
    visible = set(
        partner_members(partner)
        .filter(pk__in=[m.pk for m in resolution.candidates])
        .values_list("pk", flat=True)
    )
    if visible != {m.pk for m in resolution.candidates}:
        raise member_code_required()  # the same answer whoever the member is: nothing leaks
    if resolution.found:
        new = [key for key in keys if key.normalized() not in resolution.matches]
        if new:
            raise first_party_only(
                "identities" if any(k.kind != Identity.Kind.PHONE for k in new) else "mobile"
            )


def partner_member_upsert(
    *,
    partner: Partner,
    keys: list[IdentityKey],
    profile: dict[str, Any],
    consents: dict[str, bool],
    referral_code: str = "",
    device_id: str = "",
    ip: str = "",
) -> tuple[Member, bool]:
    """Find the member these identities name, or enrol them; either way the partner may see
    them afterwards. Returns (member, created).

    A member enrolled now is linked to the member of ``referral_code`` in the same transaction
    (a refused code enrols nobody: ``members.referrals.errors``), and ``device_id`` is kept as a
    device of theirs (``ip`` as an address they came from). A member found is not linked:
    referrals are for new members.

    An existing member gets the identities they did not have yet; their profile is left as it
    is (profile changes are explicit, through ``member_update``). Identities naming different
    members are a conflict, never a guess.

    A third-party partner finds only members it may see already and adds no identities to them;
    details that belong to another member are refused with ``member_code_required`` (the
    customer shows their member code instead: ``member_code_redeem``).
    """
    user = partner.user
    resolution = member_resolve(keys)
    if not partner.is_first_party and resolution.outcome != Outcome.UNKNOWN:
        _third_party_may_find(partner, keys, resolution)
    if resolution.outcome == Outcome.AMBIGUOUS:
        FieldErrors.single(
            "identities",
            _("These identities belong to different members: %(numbers)s.")
            % {"numbers": ", ".join(m.member_number for m in resolution.candidates)},
            code="conflict",
        )
    with transaction.atomic():
        if resolution.member is not None:  # found (only a found resolution has its member)
            member = resolution.member
            for key in keys:
                if key.normalized() not in resolution.matches:
                    identity_attach(
                        member=member,
                        kind=key.kind,
                        value=key.value,
                        namespace=key.namespace,
                        actor=user,
                        source=partner.source,
                    )
            created = False
        else:
            phone = next((k.value for k in keys if k.kind == Identity.Kind.PHONE), None)
            try:
                member = member_enrol(
                    **profile,
                    mobile=phone,
                    identities=[k for k in keys if k.kind != Identity.Kind.PHONE],
                    consents=consents,
                    actor=user,
                    source=partner.source,
                )
                created = True
            except ValidationError:
                # Enrolled by a concurrent request between our lookup and our insert: theirs stands.
                again = member_resolve(keys)
                if again.member is None:
                    raise
                if not partner.is_first_party:
                    _third_party_may_find(partner, keys, again)
                member, created = again.member, False
        seen = created or partner.is_first_party  # the brand's app saw the member on it
        if created and referral_code:  # the referral keeps the device
            referral_link(
                member,
                referral_code,
                device_id=device_id,
                actor=user,
                source=partner.source,
                partner=partner,
                channel=member.registration_channel,
            )
        elif seen:
            member_device_record(member, device_id)
        if seen and ip:
            member_ip_record(member, ip)
        member_link(partner=partner, member=member)
        if created:  # now that this partner sees them (a third party did not before the link)
            member_facts("member.created", [member.pk], timezone.now())
    return member, created


def partner_member_update(
    *, partner: Partner, member: Member, changes: dict[str, Any], consents: dict[str, bool]
) -> Member:
    """A partner's change of a member's profile and consents. The mobile number says who the
    member is: only a first-party partner changes it (sending the current one is no change)."""
    user, source = partner.user, partner.source
    if "mobile" in changes and not partner.is_first_party:
        current = member.mobile.as_e164 if member.mobile else None
        if (try_normalize_mobile(changes["mobile"]) if changes["mobile"] else None) != current:
            raise first_party_only("mobile")
        del changes["mobile"]
    with transaction.atomic():
        if changes:
            member = member_update(member=member, actor=user, source=source, **changes)
        for channel, granted in consents.items():
            member_set_consent(member=member, channel=channel, granted=granted, actor=user, source=source)
    return member
