"""What comes back from members and gateways: unsubscribing (a signed link in a message, or a
reply keyword to an SMS) and delivery receipts. Withdrawing goes through
``members.services.member_set_consent``, so each one leaves its consent record (PIPL)."""

from __future__ import annotations

import datetime
import hmac

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from config.common import outbox
from members.messaging.models import CONSENT_OF, Message, MessagingSettings
from members.models import ConsentRecord, Identity, Member
from members.phones import normalize_mobile
from members.services import member_set_consent

_SALT = "messaging.unsubscribe"


def unsubscribe_url(member: Member, channel: str) -> str:
    """A link that withdraws the member's consent on ``channel``; it does not expire (a link in
    an old message must still work) and names no one (signed ids, no phone)."""
    token = signing.dumps({"m": member.pk, "c": channel}, salt=_SALT, compress=True)
    return settings.PUBLIC_URL.rstrip("/") + reverse("messaging:unsubscribe", args=[token])


def unsubscribe_target(token: str) -> tuple[Member, str] | None:
    """The member and consent channel of a link, or None for a forged or broken one."""
    try:
        data = signing.loads(token, salt=_SALT)
        member = Member.objects.get(pk=data["m"])
        consent = CONSENT_OF[data["c"]]
    except (signing.BadSignature, Member.DoesNotExist, KeyError, TypeError):
        return None
    return (member, consent) if consent else None


def unsubscribe(member: Member, consent: str, *, source: str) -> ConsentRecord | None:
    """Withdraw; None when it was already withdrawn (nothing to record)."""
    return member_set_consent(member=member, channel=consent, granted=False, source=source)


def sms_reply(phone: str, text: str) -> bool:
    """A member's reply to an SMS: one of the settings' keywords withdraws SMS consent of the
    member with that phone. True when it did."""
    keywords = {k.upper() for k in MessagingSettings.current().unsubscribe_keywords.split()}
    if text.strip().upper() not in keywords:
        return False
    try:
        e164 = normalize_mobile(phone)
    except Exception:
        return False
    identity = Identity.objects.filter(kind=Identity.Kind.PHONE, value=e164).select_related("member").first()
    if identity is None:
        return False
    return unsubscribe(identity.member, "sms", source="SMS reply") is not None


def signature_valid(
    body: bytes, timestamp: str, signature: str, *, now: datetime.datetime | None = None
) -> bool:
    """A gateway's callback: HMAC-SHA256 of "timestamp.body" with the shared secret, within five
    minutes of now (a replayed old callback is refused)."""
    secret = settings.MESSAGING_CALLBACK_SECRET
    if not secret or not outbox.signature_fresh(timestamp, now or timezone.now()):
        return False
    return hmac.compare_digest(outbox.signature(secret, timestamp, body), signature)


def receipt_record(reference: str, delivered: bool, *, now: datetime.datetime | None = None) -> bool:
    """A delivery receipt for the message the provider knows by ``reference``. True when found."""
    now = now or timezone.now()
    sent = Message.objects.filter(
        provider_ref=reference, status__in=[Message.Status.SENT, Message.Status.DELIVERED]
    )
    if delivered:
        return sent.update(status=Message.Status.DELIVERED, delivered_at=now) > 0
    return sent.update(status=Message.Status.FAILED, last_error="the gateway reported it undelivered") > 0
