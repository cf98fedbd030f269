"""SMS through a gateway that takes a signed HTTP POST: the shape most Chinese SMS gateways (and
the brand's own SMS relay) fit, configured from the settings, no gateway's SDK.

The request (docs/architecture.md, "SMS gateway", has the exact scheme): JSON (or a form, with
``MESSAGING_SMS_FORMAT=form``) with ``serial`` (the message's id: a gateway drops a resend of a
serial it has seen), ``phone`` (E.164), ``content`` (the text as rendered), and ``sign_name`` and
``template`` when set; headers ``X-Key-Id``, ``X-Timestamp`` (Unix seconds), ``X-Nonce`` and
``X-Signature``: hex HMAC-SHA256, keyed with ``MESSAGING_SMS_SECRET``, of
``"{timestamp}.{nonce}."`` followed by the body's bytes exactly as sent.

The answer: a 2xx with the gateway's id for the message (``MESSAGING_SMS_ID_FIELD``) is sent. A
gateway that answers otherwise (errors inside a 200) is a subclass overriding ``reference``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import urllib.parse
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from members.messaging.models import Message
from members.messaging.providers import ProviderError
from members.messaging.providers.http import json_object, request
from members.phones import normalize_mobile


def signature(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    """What ``X-Signature`` carries; a gateway checks a request by computing it again."""
    signed = f"{timestamp}.{nonce}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


class SignedHttpSmsProvider:
    """Posts each message to ``MESSAGING_SMS_URL``, signed with the key's secret."""

    rate_per_second = 0.0

    def fields(self, message: Message) -> dict[str, str]:
        try:
            phone = normalize_mobile(message.recipient)  # the outbox keeps it as shown: +86 139 …
        except ValidationError:
            raise ProviderError(f"not a mobile number: {message.recipient}", temporary=False) from None
        fields = {"serial": str(message.pk), "phone": phone, "content": message.body}
        if settings.MESSAGING_SMS_SIGN_NAME:
            fields["sign_name"] = settings.MESSAGING_SMS_SIGN_NAME
        template = message.template if message.template_id else None
        if template and template.code in settings.MESSAGING_SMS_TEMPLATES:
            fields["template"] = settings.MESSAGING_SMS_TEMPLATES[template.code]
        return fields

    def send(self, message: Message) -> str:
        if not (settings.MESSAGING_SMS_URL and settings.MESSAGING_SMS_SECRET):
            # a setting missing is fixed by an operator: the message waits for it
            raise ProviderError("MESSAGING_SMS_URL and MESSAGING_SMS_SECRET must be set", temporary=True)
        fields = self.fields(message)
        if settings.MESSAGING_SMS_FORMAT == "form":
            body = urllib.parse.urlencode(fields).encode()
            content_type = "application/x-www-form-urlencoded"
        else:
            body = json.dumps(fields, ensure_ascii=False).encode()
            content_type = "application/json; charset=utf-8"
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        headers = {
            "Content-Type": content_type,
            "X-Key-Id": settings.MESSAGING_SMS_KEY_ID,
            "X-Timestamp": timestamp,
            "X-Nonce": nonce,
            "X-Signature": signature(settings.MESSAGING_SMS_SECRET, timestamp, nonce, body),
        }
        status, answer = request(
            settings.MESSAGING_SMS_URL, body, headers, timeout=settings.MESSAGING_TIMEOUT
        )
        return self.reference(status, json_object(answer), answer)

    def reference(self, status: int, data: dict[str, Any], raw: bytes) -> str:
        """The gateway's id for the message, or the ProviderError its answer means."""
        detail = data.get("message") or data.get("error") or raw[:100].decode(errors="replace")
        said = f"SMS gateway answered {status}: {detail}".strip()
        if 200 <= status < 300:
            reference = data.get(settings.MESSAGING_SMS_ID_FIELD)
            if isinstance(reference, (str, int)) and str(reference):
                return str(reference)
            # it may have taken the message: a retry carries the same serial, which it drops
            raise ProviderError(f"{said} (no {settings.MESSAGING_SMS_ID_FIELD})", temporary=True)
        # busy (429), a timeout on its side (408), its own failure (5xx); a refused key or
        # signature (401, 403) is a setting to fix, not this message's fault: all worth a retry
        temporary = status in (401, 403, 408, 429) or not 400 <= status < 500
        raise ProviderError(said, temporary=temporary)
