"""Delivering webhook events: the workers' loop.

``webhooks_deliver_due`` claims due events (SKIP LOCKED: two workers never take the same row),
marks them "sending" with the claim time (the lease), POSTs each one and writes the outcomes in
a few statements per batch. No row lock is held during the HTTP calls. A worker killed mid-batch
leaves its rows "sending"; after ``LEASE`` they are due again and sent again (at least once: the
partner drops the repeat by event id).

A 2xx answer delivers; anything else (a redirect is not followed), a timeout or a refused
connection is retried after 30 s, 1, 2, 4 … minutes (at most an hour apart) until 24 hours
after the event, then the event fails; an operator can send it again from the admin.

Each attempt is signed afresh: ``X-Loyalty-Signature: t=<unix time>,v1=<hex>`` with
HMAC-SHA256(secret, "<t>.<body>"), and a second ``v1=`` with the previous secret during a
rotation's overlap.
"""

from __future__ import annotations

import datetime
import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from config.common.outbox import backoff, signature
from members.webhooks.models import WebhookEndpoint, WebhookEvent
from members.webhooks.targets import Target, TargetRefused, target_check

#: A claim not settled within this time (its worker died) is due again.
LEASE = datetime.timedelta(minutes=2)
#: Retries stop this long after the event was emitted.
RETRY_FOR = datetime.timedelta(hours=24)
#: Seconds to connect and to wait for each read of the answer.
TIMEOUT = 10.0
USER_AGENT = "loyalty-webhooks/1"


def signature_header(endpoint: WebhookEndpoint, body: bytes, timestamp: int, now: datetime.datetime) -> str:
    stamp = str(timestamp)
    parts = [f"t={stamp}", f"v1={signature(endpoint.secret, stamp, body)}"]
    if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > now:
        parts.append(f"v1={signature(endpoint.previous_secret, stamp, body)}")
    return ",".join(parts)


# --- HTTP -----------------------------------------------------------------------------------


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the checked address, with the certificate checked for the host name."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


#: Keep-alive connections of this process, by (scheme, host, port, address).
_pool: dict[tuple[str, str, int, str], http.client.HTTPConnection] = {}


def _connection(target: Target) -> http.client.HTTPConnection:
    key = (target.scheme, target.host, target.port, target.address)
    conn = _pool.get(key)
    if conn is None:
        if target.scheme == "https":
            conn = _PinnedHTTPSConnection(target.host, target.address, target.port, TIMEOUT)
        else:
            conn = http.client.HTTPConnection(target.address, target.port, timeout=TIMEOUT)
        _pool[key] = conn
    return conn


def _drop(target: Target) -> None:
    conn = _pool.pop((target.scheme, target.host, target.port, target.address), None)
    if conn is not None:
        conn.close()


def http_post(target: Target, body: bytes, headers: dict[str, str]) -> int:
    """POST on a kept-alive connection; the status code. A connection the server closed
    meanwhile is opened again once."""
    default_port = 443 if target.scheme == "https" else 80
    host = target.host if target.port == default_port else f"{target.host}:{target.port}"
    headers = {"Host": host, "Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    for attempt in (1, 2):
        conn = _connection(target)
        try:
            conn.request("POST", target.path, body=body, headers=headers)
            response = conn.getresponse()
            response.read(65536)
            if not response.isclosed() or response.will_close:  # an answer too long to read: do not reuse
                _drop(target)
            return response.status
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            _drop(target)
            if attempt == 2:
                raise
        except Exception:
            _drop(target)
            raise
    raise AssertionError("unreachable")


# --- the loop -------------------------------------------------------------------------------


@dataclass
class _Outcome:
    event_id: int
    code: int | None
    error: str


def events_release_stale(*, now: datetime.datetime | None = None) -> int:
    """Claims older than ``LEASE`` (their worker died) are due again."""
    now = now or timezone.now()
    return WebhookEvent.objects.filter(status=WebhookEvent.Status.SENDING, claimed_at__lt=now - LEASE).update(
        status=WebhookEvent.Status.PENDING, claimed_at=None
    )


def events_claim(*, limit: int, now: datetime.datetime | None = None) -> list[int]:
    """Take up to ``limit`` due events for this worker, oldest due first."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            WebhookEvent.objects.select_for_update(skip_locked=True)
            .filter(status=WebhookEvent.Status.PENDING, next_try_at__lte=now)
            .order_by("next_try_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        WebhookEvent.objects.filter(pk__in=ids).update(status=WebhookEvent.Status.SENDING, claimed_at=now)
    return ids


def _attempt(event: WebhookEvent, now: datetime.datetime) -> _Outcome:
    body = event.body.encode()
    try:
        target = target_check(event.endpoint.url)  # again: the name may point elsewhere now
    except TargetRefused as refused:
        return _Outcome(event.pk, None, str(refused))
    headers = {
        "X-Loyalty-Event": event.event_type,
        "X-Loyalty-Event-Id": str(event.event_id),
        "X-Loyalty-Signature": signature_header(event.endpoint, body, int(time.time()), now),
    }
    try:
        code = http_post(target, body, headers)
    except (OSError, http.client.HTTPException) as error:
        return _Outcome(event.pk, None, f"{type(error).__name__}: {error}"[:300])
    return _Outcome(event.pk, code, "" if 200 <= code < 300 else f"HTTP {code}")


def events_deliver(ids: list[int], *, now: datetime.datetime | None = None) -> int:
    """Send these claimed events and record the outcomes; returns how many were delivered."""
    now = now or timezone.now()
    events = list(
        WebhookEvent.objects.filter(pk__in=ids, status=WebhookEvent.Status.SENDING)
        .select_related("endpoint")
        .order_by("pk")
    )
    claims = {event.pk: event.claimed_at for event in events}
    outcomes = [_attempt(event, now) for event in events]
    delivered: dict[int, list[int]] = {}
    for outcome in outcomes:
        if outcome.code is not None and 200 <= outcome.code < 300:
            delivered.setdefault(outcome.code, []).append(outcome.event_id)
    # a claim another worker took over after our lease ran out is theirs: the filter skips it
    mine = WebhookEvent.objects.filter(status=WebhookEvent.Status.SENDING)
    done = 0
    for code, event_ids in delivered.items():
        done += mine.filter(pk__in=event_ids, claimed_at__in={claims[pk] for pk in event_ids}).update(
            status=WebhookEvent.Status.DELIVERED,
            delivered_at=now,
            attempts=F("attempts") + 1,
            response_code=code,
            last_error="",
            claimed_at=None,
        )
    by_id = {event.pk: event for event in events}
    for outcome in outcomes:
        if outcome.error:
            event = by_id[outcome.event_id]
            attempts = event.attempts + 1
            later = now + backoff(attempts, first=30, cap=3600)
            failed = later > event.created_at + RETRY_FOR
            mine.filter(pk=event.pk, claimed_at=claims[event.pk]).update(
                status=WebhookEvent.Status.FAILED if failed else WebhookEvent.Status.PENDING,
                next_try_at=event.next_try_at if failed else later,
                attempts=attempts,
                response_code=outcome.code,
                last_error=outcome.error,
                claimed_at=None,
            )
    return done


def webhooks_deliver_due(
    *, batch: int = 100, seconds: float = 50.0, now: datetime.datetime | None = None
) -> int:
    """Deliver due events until none is due or ``seconds`` have passed; returns how many were
    delivered. ``now``: a fixed clock (tests)."""
    started = time.monotonic()
    delivered = 0
    events_release_stale(now=now)
    while time.monotonic() - started < seconds:
        ids = events_claim(limit=batch, now=now)
        if not ids:
            break
        delivered += events_deliver(ids, now=now)
    return delivered
