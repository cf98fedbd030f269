"""``Idempotency-Key`` on state-changing POSTs: one effect, the first response replayed.

The whole request runs in one transaction that starts by claiming the key (see
``idempotency_claim``); the response is stored before it commits. So a retry, or twenty
concurrent copies, get the first response byte for byte with ``Idempotent-Replayed: true``;
the same key with another body (or on another endpoint) is a 409. 5xx responses are not
stored (the transaction rolls back), so a retry after a crash runs again.
"""

from __future__ import annotations

import hashlib
import json
import re

from django.http import HttpResponse
from django.utils.translation import gettext as _

from members.partners.api.errors import APIError
from members.partners.models import IdempotentRequest, Partner
from members.partners.services import idempotency_claim

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces: UUIDs, order numbers ...


def fingerprint(method: str, path: str, raw: bytes) -> str:
    """Same request = same method, path and JSON (key order and spacing do not matter)."""
    try:
        canonical = json.dumps(json.loads(raw or b"null"), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError, RecursionError):  # not JSON: the parser answers 400
        canonical = raw
    return hashlib.sha256(b"%s %s\n%s" % (method.encode(), path.encode(), canonical)).hexdigest()


def key_of(request) -> str:
    key = request.headers.get(HEADER, "")
    if not key:
        raise APIError(
            _("This request changes data: send an Idempotency-Key header (a UUID per operation)."),
            code="idempotency_key_missing",
            status_code=400,
            fields={HEADER: [_("This header is required.")]},
        )
    if not _KEY.match(key):
        raise APIError(
            _("The Idempotency-Key must be 1 to 255 printable ASCII characters without spaces."),
            code="invalid",
            status_code=400,
            fields={HEADER: [_("Invalid value.")]},
        )
    return key


def claim(partner: Partner, request, key: str) -> IdempotentRequest | None:
    """None when this request runs; else the stored first response (or a 409 if it differs)."""
    done = idempotency_claim(
        partner=partner, key=key, fingerprint=fingerprint(request.method, request.path, request.body)
    )
    if done is None:
        return None
    if done.fingerprint != fingerprint(request.method, request.path, request.body):
        raise APIError(
            _("This Idempotency-Key was already used with a different request."),
            code="idempotency_conflict",
            status_code=409,
        )
    return done


def replay(done: IdempotentRequest) -> HttpResponse:
    response = HttpResponse(bytes(done.body), status=done.status_code, content_type=done.content_type)
    response[REPLAYED] = "true"
    return response
