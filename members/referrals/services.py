"""Referrals (以老带新): a member's code, made on demand, and the link from a new member to the
member whose code they enrolled with.

The link is refused, with a code (``members.referrals.errors``), when the code is unknown, the
new member has a referrer already, the code's member is closed or merged, or the new member is
the referrer in another form: the same member, an identity value the referrer has or had (a
phone, card, UnionID... compared across kinds, so a phone typed as a card number still matches),
or a device the referrer enrolled on. The callers (the partner API, the member import, the admin)
call it in the enrolment's transaction, so a refused code enrols nobody.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from members.models import Identity, Member
from members.phones import normalize_mobile
from members.referrals.errors import ReferralCodeUnknown, ReferralTaken, ReferrerClosed, SelfReferral
from members.referrals.models import ALPHABET, CODE_LENGTH, MemberDevice, MemberIp, Referral, ReferralCode
from members.services import IdentityKey

FIELD = "referral_code"


def new_referral_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize_referral_code(raw: object) -> str:
    """As customers type it: any case, with spaces or dashes."""
    return "".join(ch for ch in str(raw or "").upper() if ch.isalnum())


def referral_code_get(member: Member) -> str:
    """The member's referral code, made now if they have none (drawn again on a collision: the
    unique index decides)."""
    found = ReferralCode.objects.filter(member=member).values_list("code", flat=True).first()
    if found:
        return found
    for _attempt in range(10):
        try:
            with transaction.atomic():
                ReferralCode.objects.create(member=member, code=new_referral_code())
        except IntegrityError:
            pass  # a code drawn twice, or the member's code made by a concurrent request
        found = ReferralCode.objects.filter(member=member).values_list("code", flat=True).first()
        if found:
            return found
    raise RuntimeError("Could not draw a free referral code; lengthen CODE_LENGTH.")


def member_device_record(member: Member, device_id: str | None) -> None:
    """Remember a device the member enrolled or signed in on (once per device)."""
    device_id = (device_id or "").strip()
    if device_id:
        MemberDevice.objects.bulk_create(
            [MemberDevice(member=member, device_id=device_id)], ignore_conflicts=True
        )


def member_ip_record(member: Member, ip: str) -> None:
    """Remember an IP address the member enrolled or signed in from (once per address)."""
    MemberIp.objects.bulk_create([MemberIp(member=member, ip=ip)], ignore_conflicts=True)


def _variants(values: Iterable[str]) -> set[str]:
    """The forms an id value is stored in, whatever kind it was given as: as given, upper-case
    (cards), and a mobile number both in E.164 (phones) and national digits (typed elsewhere)."""
    found: set[str] = set()
    for value in values:
        text = str(value or "").strip()
        if not text:
            continue
        found |= {text, text.upper()}
        try:
            e164 = normalize_mobile(text)
        except ValidationError:  # not a mobile number: compared as it is
            continue
        found |= {e164, e164.removeprefix("+86")}
    return found


def referral_check(
    code: str,
    *,
    keys: Iterable[IdentityKey] = (),
    device_id: str | None = None,
    referee: Member | None = None,
) -> Member:
    """The referrer of ``code`` for a new member with these identities and device (``referee``:
    the member when enrolled already: their identities are read too), or the refusal."""
    code = normalize_referral_code(code)
    referrer = Member.objects.filter(referral_code__code=code).first() if code else None
    if referrer is None:
        raise ReferralCodeUnknown(
            _("No member has the referral code “%(code)s”.") % {"code": code}, field=FIELD
        )
    if referrer.merged_into_id is not None or referrer.status == Member.Status.CLOSED:
        raise ReferrerClosed(
            _("The member of referral code “%(code)s” is closed: the code no longer refers anyone.")
            % {"code": code},
            field=FIELD,
        )
    if referee is not None and referee.pk == referrer.pk:
        raise SelfReferral(_("A member cannot use their own referral code."), field=FIELD, via="member")
    values = [key.value for key in keys]
    if referee is not None:
        values += list(Identity.objects.filter(member=referee).values_list("value", flat=True))
    candidates = _variants(values)
    if candidates and (
        Identity.objects.filter(member=referrer, value__in=candidates).exists()
        # an id the referrer had before (a phone they changed) is still theirs for this rule
        or Identity.history.filter(member_id=referrer.pk, value__in=candidates).exists()
    ):
        raise SelfReferral(
            _("The new member has a phone or id of the referrer's: a member cannot refer themselves."),
            field=FIELD,
            via="identity",
        )
    device_id = (device_id or "").strip()
    if device_id and MemberDevice.objects.filter(member=referrer, device_id=device_id).exists():
        raise SelfReferral(
            _("The new member enrolled on a device of the referrer's: a member cannot refer themselves."),
            field="device_id",
            via="device",
        )
    return referrer


def referral_link(
    referee: Member,
    code: str,
    *,
    device_id: str | None = None,
    actor: Any = None,
    source: str = "admin",
    partner: Any = None,
    channel: str = "",
) -> Referral:
    """Link ``referee`` to the member whose referral code is ``code``, or refuse (nothing
    written). The referee's device is remembered as theirs."""
    referrer = referral_check(code, device_id=device_id, referee=referee)
    try:
        with transaction.atomic():
            if Referral.objects.filter(referee=referee).exists():
                raise IntegrityError  # the same answer as a concurrent link's, below
            referral = Referral.objects.create(
                referrer=referrer,
                referee=referee,
                code=normalize_referral_code(code),
                channel=channel or referee.registration_channel,
                partner=partner,
                device_id=(device_id or "").strip(),
                source=source[:32],
                actor=actor if getattr(actor, "pk", None) else None,
            )
            member_device_record(referee, device_id)
    except IntegrityError:
        # one referrer per member: the unique index decides between two links at once
        raise ReferralTaken(
            _("Member %(number)s was referred already.") % {"number": referee.member_number}, field=FIELD
        ) from None
    return referral


# --- the other subsystems' steps ------------------------------------------------------------


def referrals_merge(merge: Any) -> None:
    """OneID: the absorbed member's referees are the survivor's now (a link between the two,
    one person referring themselves, is dropped); the absorbed member's own referrer goes to the
    survivor when the survivor has none; its devices too. Its code stays with the closed record
    (refused as merged)."""
    survivor, absorbed = merge.survivor, merge.absorbed
    dropped, _count = Referral.objects.filter(
        referrer__in=[survivor, absorbed], referee__in=[survivor, absorbed]
    ).delete()
    moved = Referral.objects.filter(referrer=absorbed).update(referrer=survivor)
    if not Referral.objects.filter(referee=survivor).exists():
        moved += Referral.objects.filter(referee=absorbed).update(referee=survivor)
    devices = [
        MemberDevice(member=survivor, device_id=device_id)
        for device_id in MemberDevice.objects.filter(member=absorbed).values_list("device_id", flat=True)
    ]
    MemberDevice.objects.bulk_create(devices, ignore_conflicts=True)
    ips = [
        MemberIp(member=survivor, ip=ip)
        for ip in MemberIp.objects.filter(member=absorbed).values_list("ip", flat=True)
    ]
    MemberIp.objects.bulk_create(ips, ignore_conflicts=True)
    merge.note("referrals", moved + dropped)


def referrals_erase(erasure: Any) -> None:
    """PIPL: the member's devices and IP addresses go, and the device their referral was made on."""
    deleted, _count = MemberDevice.objects.filter(member=erasure.member).delete()
    deleted += MemberIp.objects.filter(member=erasure.member).delete()[0]
    deleted += Referral.objects.filter(referee=erasure.member).exclude(device_id="").update(device_id="")
    erasure.note("referrals", deleted)
