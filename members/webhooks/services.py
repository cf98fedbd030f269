"""Emitting webhook events, and the endpoints' settings.

``webhook_emit`` is called by each owning service inside the transaction of its fact (the
transactional outbox): a rolled-back fact emits nothing. It costs one query when no active
endpoint subscribes to the event type. Otherwise it writes one ``WebhookEvent`` per subscribed
partner that may see the member (every member for a first-party partner, its ``PartnerMember``
links for a third-party one), each with:

- an event id (UUID) the partner de-duplicates on (delivery is at least once);
- a sequence number per (partner, member), taken from a ``WebhookSequence`` row locked for the
  rest of the transaction, so the numbers are gapless and follow the commit order;
- an idempotency key ``<type>:<fact key>``: emitting the same fact again (a rerun job) adds
  nothing for a partner that has it.

Many facts go in one call (a job's chunk): a handful of statements whatever their number.
"""

from __future__ import annotations

import datetime
import json
import secrets
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from config.common.bulk import bulk_set
from members.models import Member
from members.partners.models import PartnerKind, PartnerMember
from members.webhooks.models import EventType, WebhookEndpoint, WebhookEvent, WebhookSequence
from members.webhooks.targets import TargetRefused, target_check

#: How long the previous secret still signs after a rotation.
ROTATION_OVERLAP = datetime.timedelta(hours=24)


@dataclass(frozen=True)
class Fact:
    """One thing that happened to one member: ``key`` is unique per fact within its event type."""

    member_id: int
    key: str
    data: dict[str, Any]


@dataclass(frozen=True)
class _Subscriber:
    endpoint_id: int
    partner_id: int
    sees_all: bool


def _subscribers(event_type: str) -> list[_Subscriber]:
    rows = WebhookEndpoint.objects.filter(is_active=True, partner__is_active=True).values_list(
        "pk", "partner_id", "partner__kind", "event_types"
    )
    return [
        _Subscriber(pk, partner_id, kind == PartnerKind.FIRST_PARTY)
        for pk, partner_id, kind, types in rows
        if event_type in types
    ]


def webhook_subscribed(event_type: str) -> bool:
    """Whether any active endpoint wants this event type (a caller may skip building facts)."""
    return bool(_subscribers(event_type))


def webhook_emit(
    event_type: str,
    facts: Iterable[Fact] | Callable[[], Iterable[Fact]],
    *,
    at: datetime.datetime | None = None,
) -> int:
    """Write the events of ``facts`` for every partner subscribed to ``event_type`` that may see
    each member; returns how many were written. ``facts`` may be a callable: it runs only when
    someone subscribes, so a caller builds bodies for nobody at no cost."""
    subscribers = _subscribers(event_type)
    if not subscribers:
        return 0
    facts = list(facts() if callable(facts) else facts)
    if not facts:
        return 0
    at = at or timezone.now()
    member_ids = sorted({fact.member_id for fact in facts})
    limited = [s.partner_id for s in subscribers if not s.sees_all]
    visible = set(
        PartnerMember.objects.filter(partner_id__in=limited, member_id__in=member_ids).values_list(
            "partner_id", "member_id"
        )
        if limited
        else ()
    )
    keys = {fact.key: f"{event_type}:{fact.key}" for fact in facts}
    existing = set(
        WebhookEvent.objects.filter(
            partner_id__in=[s.partner_id for s in subscribers], key__in=list(keys.values())
        ).values_list("partner_id", "key")
    )
    wanted: list[tuple[_Subscriber, Fact]] = []
    for subscriber in subscribers:
        for fact in facts:
            marker = (subscriber.partner_id, keys[fact.key])
            if marker in existing:
                continue
            if subscriber.sees_all or (subscriber.partner_id, fact.member_id) in visible:
                existing.add(marker)
                wanted.append((subscriber, fact))
    if not wanted:
        return 0
    # the caller's transaction (no savepoint: a failure here fails the fact), or our own
    with transaction.atomic(savepoint=False):
        return _write(event_type, wanted, keys, member_ids, at)


def _write(
    event_type: str,
    wanted: list[tuple[_Subscriber, Fact]],
    keys: dict[str, str],
    member_ids: list[int],
    at: datetime.datetime,
) -> int:
    first = _take_sequences(Counter((s.partner_id, fact.member_id) for s, fact in wanted))
    numbers = dict(Member.objects.filter(pk__in=member_ids).values_list("pk", "member_number"))
    stamp = at.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    events = []
    for subscriber, fact in wanted:
        pair = (subscriber.partner_id, fact.member_id)
        sequence = first[pair]
        first[pair] += 1
        event_id = uuid.uuid4()
        body = {
            "id": str(event_id),
            "type": event_type,
            "created_at": stamp,
            "member": numbers[fact.member_id],
            "sequence": sequence,
            "data": fact.data,
        }
        events.append(
            WebhookEvent(
                event_id=event_id,
                partner_id=subscriber.partner_id,
                endpoint_id=subscriber.endpoint_id,
                member_id=fact.member_id,
                event_type=event_type,
                key=keys[fact.key],
                sequence=sequence,
                body=json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str),
                next_try_at=at,
                created_at=at,
            )
        )
    WebhookEvent.objects.bulk_create(events, batch_size=2000)
    transaction.on_commit(_kick)
    return len(events)


def _take_sequences(counts: Counter[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """Reserve ``counts[pair]`` numbers per (partner, member); returns each pair's first one.

    The counter rows are created if missing and locked (primary-key order) until the caller's
    transaction ends: a concurrent emitter for the same member waits and continues after our
    last number, so numbers have no gaps and increase in commit order."""
    pairs = sorted(counts)
    WebhookSequence.objects.bulk_create(
        [WebhookSequence(partner_id=p, member_id=m) for p, m in pairs], ignore_conflicts=True
    )
    rows = (
        WebhookSequence.objects.select_for_update()
        .filter(partner_id__in={p for p, _m in pairs}, member_id__in={m for _p, m in pairs})
        .order_by("pk")
    )
    first: dict[tuple[int, int], int] = {}
    changed = []
    for row in rows:
        pair = (row.partner_id, row.member_id)
        if pair in counts:
            first[pair] = row.last + 1
            row.last += counts[pair]
            changed.append(row)
    bulk_set(changed, ["last"])
    return first


def _kick() -> None:
    # Without a broker tasks run in the calling process: a web request would deliver inline.
    # Tests call the delivery themselves; with a broker, a worker delivers.
    if not settings.CELERY_BROKER_URL:
        return
    from members.webhooks.tasks import deliver_due  # the task module imports the delivery

    deliver_due.delay()


def member_facts_emit(event_type: str, member_ids: Sequence[int], at: datetime.datetime) -> None:
    """The member domain's hook (``members.services.member_facts``): enrolled or changed members."""

    def facts() -> list[Fact]:
        rows = Member.objects.filter(pk__in=member_ids).values_list("pk", "status", "registration_channel")
        suffix = "" if event_type == EventType.MEMBER_CREATED else f":{at.timestamp():.6f}"
        return [
            Fact(pk, f"{pk}{suffix}", {"status": status, "registration_channel": channel})
            for pk, status, channel in rows
        ]

    webhook_emit(event_type, facts, at=at)


# --- endpoints -------------------------------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def endpoint_check_url(url: str) -> None:
    """The URL may be called now (http(s), no private address unless allowed), or a
    ValidationError naming ``url``."""
    try:
        target_check(url)
    except TargetRefused as refused:
        raise ValidationError({"url": [str(refused)]}) from None


def endpoint_save(*, endpoint: WebhookEndpoint) -> tuple[WebhookEndpoint, str | None]:
    """Save an endpoint after checking its URL; a new one gets its secret, returned once
    (otherwise None)."""
    endpoint_check_url(endpoint.url)
    unknown = set(endpoint.event_types) - set(EventType.values)
    if unknown:
        raise ValidationError({"event_types": [", ".join(sorted(unknown))]})
    text = None
    if not endpoint.secret:
        endpoint.secret = text = new_secret()
    endpoint.save()
    return endpoint, text


def endpoint_rotate_secret(
    *,
    endpoint: WebhookEndpoint,
    now: datetime.datetime | None = None,
    overlap: datetime.timedelta = ROTATION_OVERLAP,
) -> str:
    """A new secret, returned once; the previous one keeps signing for ``overlap``."""
    now = now or timezone.now()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.previous_secret, endpoint.previous_secret_until = endpoint.secret, now + overlap
        endpoint.secret = text = new_secret()
        endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_until", "updated_at"])
    return text


def events_redeliver(event_ids: Iterable[int], *, now: datetime.datetime | None = None) -> int:
    """An operator sends these events again (delivered or failed ones too): due now, with the
    same event id and body; returns how many. Events being sent right now are left alone."""
    now = now or timezone.now()
    count = (
        WebhookEvent.objects.filter(pk__in=list(event_ids))
        .exclude(status=WebhookEvent.Status.SENDING)
        .update(status=WebhookEvent.Status.PENDING, next_try_at=now, claimed_at=None)
    )
    if count:
        transaction.on_commit(_kick)
    return count
