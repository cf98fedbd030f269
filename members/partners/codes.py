"""Member codes and the trust rules between partners: what a partner may do to a member.

A first-party partner (the brand's own systems) issues a code the member's app shows; a
third-party partner redeems it at the till, which links the member to it and opens a visit
during which it may spend the member's points. Knowing a phone number proves nothing.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from members.errors import MemberClosed
from members.models import Member
from members.partners.models import MemberCode, Partner, PartnerMember

#: 18 digits (as WeChat's dynamic card codes), the first never 0 so the code survives being read
#: as an integer: 9 x 10^17 codes. With a partner key's throttle (600 requests a minute by
#: default) and a two-minute life, a guesser's chance per live code is about 10^-15.
CODE_DIGITS = 18
_CODE_SPACE = 9 * 10 ** (CODE_DIGITS - 1)


class TrustRefused(Exception):
    """A partner asked for what needs the customer's member code or a first-party partner.

    ``code`` is the API's error code, ``field`` the request field at fault (if any).
    """

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class IssueKeyReused(Exception):
    """The issuing request's key was used for another member's code."""


def member_code_required() -> TrustRefused:
    """The one answer to a third-party partner that needs the customer's code. It is the same
    whatever the reason (an existing member's phone, a spend without a visit), and says nothing
    about the member."""
    return TrustRefused(
        "member_code_required",
        _("This needs the customer's member code: redeem it with POST /api/v1/members/link/ first."),
    )


def first_party_only(field: str) -> TrustRefused:
    return TrustRefused(
        "first_party_only",
        _("Only the brand's own systems may change a member's mobile number and identities."),
        field=field,
    )


def _code_of(nonce: str) -> str:
    digest = salted_hmac("members.partners.member-code", nonce, algorithm="sha256").digest()
    return str(10 ** (CODE_DIGITS - 1) + int.from_bytes(digest, "big") % _CODE_SPACE)


def _hash_of(code: str) -> str:
    """Keyed with the server's secret: a leaked table cannot be searched for codes offline."""
    return salted_hmac("members.partners.member-code-hash", code, algorithm="sha256").hexdigest()


def member_code_issue(
    *, partner: Partner, member: Member, request_key: str, now: datetime.datetime | None = None
) -> tuple[str, datetime.datetime, bool]:
    """A new member code for the member's app to show, when it expires, and whether this call
    issued it (False: a retry, answered with the code issued first).

    Only a first-party partner issues codes. The same ``request_key`` (the request's
    Idempotency-Key) gives the same code back: it is derived from the row's nonce, so neither
    the code nor a stored response holding it is ever written down.
    """
    if not partner.is_first_party:
        raise PermissionDenied(_("Only the brand's own systems issue member codes."))
    if member.status != Member.Status.ACTIVE:
        raise MemberClosed(_("This member is not active: no member code is issued."), field="member_number")
    now = now or timezone.now()
    issue_key = hashlib.sha256(request_key.encode()).hexdigest()
    nonce = secrets.token_hex(16)
    code = _code_of(nonce)
    try:
        with transaction.atomic():
            row = MemberCode.objects.create(
                member=member,
                issued_by=partner,
                issue_key=issue_key,
                nonce=nonce,
                code_hash=_hash_of(code),
                created_at=now,
                expires_at=now + datetime.timedelta(seconds=settings.MEMBER_CODE_SECONDS),
            )
    except IntegrityError:
        # A retry (or a concurrent copy) of the same request: it waited on the unique index.
        row = MemberCode.objects.get(issued_by=partner, issue_key=issue_key)
        if row.member_id != member.pk:
            raise IssueKeyReused from None
        return _code_of(row.nonce), row.expires_at, False
    return code, row.expires_at, True


def member_code_redeem(*, partner: Partner, code: str, now: datetime.datetime | None = None) -> Member | None:
    """The member whose code this is, now linked to the partner with a visit open; None for a
    code that is unknown, expired or already used, or whose issuer is no longer a first-party
    partner (the caller cannot tell which).

    The conditional UPDATE is the lock: of two requests presenting one code at once, the second
    waits on the row and then no longer matches ``redeemed_at IS NULL``.
    """
    if not (len(code) == CODE_DIGITS and code.isascii() and code.isdigit()):
        return None
    now = now or timezone.now()
    code_hash = _hash_of(code)
    redeemed = MemberCode.objects.filter(
        code_hash=code_hash, redeemed_at__isnull=True, expires_at__gt=now
    ).update(redeemed_at=now, redeemed_by=partner)
    if not redeemed:
        return None
    row = MemberCode.objects.select_related("member", "issued_by").get(code_hash=code_hash)
    if not (row.issued_by.is_first_party and row.issued_by.is_active):
        return None  # its issuer is no longer the brand's own system: its codes are worth nothing
    visit_until = now + datetime.timedelta(minutes=settings.MEMBER_VISIT_MINUTES)
    PartnerMember.objects.bulk_create(
        [PartnerMember(partner=partner, member=row.member, visit_until=visit_until)],
        update_conflicts=True,
        unique_fields=["partner", "member"],
        update_fields=["visit_until"],
    )
    return row.member


def partner_visit_until(partner: Partner, member: Member) -> datetime.datetime | None:
    return (
        PartnerMember.objects.filter(partner=partner, member=member)
        .values_list("visit_until", flat=True)
        .first()
    )


def member_codes_purge(now: datetime.datetime | None = None) -> int:
    """Forget codes that expired over a day ago (a daily job): an expired code is refused the
    same way as an unknown one, so its row has nothing left to answer."""
    cutoff = (now or timezone.now()) - datetime.timedelta(days=1)
    deleted, _counts = MemberCode.objects.filter(expires_at__lt=cutoff).delete()
    return deleted
