"""Queueing and sending messages.

``messages_queue`` writes outbox rows in the caller's transaction, after the checks every message
passes (one place for them): the member is active, has an address on the channel and, for
marketing, consent on it and room under the day's and week's caps; marketing waits out quiet
hours. A message that fails a check is kept as "not sent" with its reason. Queueing is
idempotent by key (a journey run twice queues nothing new).

``messages_send_due`` is the workers' loop: claim due rows (SKIP LOCKED, so workers never take
the same row), send each in its own transaction that also marks it sent (a provider that only
writes this database, such as the recording one, gets the batch in one transaction), retry
temporary failures with exponential backoff. A worker killed mid-send leaves its rows "sending"; after
``LEASE`` they are due again. With the recording provider the record and the mark are one
transaction, so every message is recorded exactly once whatever is killed when. A channel with a
rate (MESSAGING_RATES) takes a send slot shared by all workers first (``rates.rate_take``); a
message that gets none in time goes back to the queue as it was, not counted as an attempt.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import CharField, Count, Q, QuerySet
from django.db.models.functions import Cast
from django.utils import timezone
from phonenumber_field.phonenumber import PhoneNumber

from config.common.bulk import bulk_insert, bulk_set
from config.common.outbox import backoff
from members.messaging.models import CONSENT_OF, Channel, Kind, Message, MessagingSettings, Template
from members.messaging.providers import LocalProvider, ProviderError, provider_for
from members.messaging.rates import rate_take
from members.models import Identity, Member

#: A claimed message not marked sent or failed within this time is claimed again.
LEASE = datetime.timedelta(minutes=5)
#: Temporary failures are retried this many times in all, waiting 30 s, 1, 2, 4 … minutes (≤ 1 h).
MAX_ATTEMPTS = 8
#: Seconds a worker waits for its channel's next send slot before it puts the message back.
RATE_WAIT = 2.0
_COUNTED = [Message.Status.QUEUED, Message.Status.SENDING, Message.Status.SENT, Message.Status.DELIVERED]


@dataclass
class Outgoing:
    """One message to queue: already rendered."""

    member: Member
    channel: str
    body: str
    key: str
    subject: str = ""
    kind: str = Kind.MARKETING
    source: str = ""
    template: Template | None = None


def quiet_end(moment: datetime.datetime, settings: MessagingSettings) -> datetime.datetime | None:
    """When ``moment`` falls in quiet hours (local time), the moment they end; otherwise None."""
    start, end = settings.quiet_from, settings.quiet_until
    if start == end:
        return None
    local = timezone.localtime(moment)
    now = local.time()
    quiet = (now >= start or now < end) if start > end else (start <= now < end)
    if not quiet:
        return None
    day = local.date() if now < end else local.date() + datetime.timedelta(days=1)
    return timezone.make_aware(datetime.datetime.combine(day, end), local.tzinfo)


#: The mobile as stored, as text: E.164 already (``members.phones`` normalises every number
#: before it is saved), while turning each into a PhoneNumber is most of reading a member.
SMS_ADDRESS = "sms_address"
_UNREAD = object()


def members_for_messages(members: QuerySet[Member]) -> QuerySet[Member]:
    """``members`` read for queueing messages: the mobile as its stored text (``addresses``)."""
    return members.defer("mobile").annotate(**{SMS_ADDRESS: Cast("mobile", CharField())})


def _sms_address(member: Member) -> str:
    stored = member.__dict__.get(SMS_ADDRESS, _UNREAD)
    if stored is not _UNREAD:
        return stored or ""
    number = member.mobile
    if not isinstance(number, PhoneNumber):  # None or ""
        return ""
    return number.as_e164 if number.country_code else number.raw_input


def addresses(members: Sequence[Member], channel: str) -> dict[int, str]:
    """Each member's address on ``channel`` (absent: none). SMS: the number in E.164; WeChat: the
    member's OpenID (the first recorded, for the brand's app)."""
    if channel == Channel.SMS:  # +8613912345678: what gateways take (str() is the admin's spaced form)
        return {m.pk: number for m in members if (number := _sms_address(m))}
    if channel == Channel.EMAIL:
        return {m.pk: m.email for m in members if m.email}
    if channel == Channel.WECHAT:
        found: dict[int, str] = {}
        for member_id, value in (
            Identity.objects.filter(member__in=[m.pk for m in members], kind=Identity.Kind.WECHAT_OPENID)
            .order_by("member_id", "pk")
            .values_list("member_id", "value")
        ):
            found.setdefault(member_id, value)
        return found
    return {m.pk: m.member_number for m in members}  # the inbox: the member's own


def _day_start(moment: datetime.datetime) -> datetime.datetime:
    local = timezone.localtime(moment)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _sent_so_far(member_ids: list[int], now: datetime.datetime) -> dict[int, tuple[int, int]]:
    """Per member, marketing messages counted against the caps: (today, this week from Monday)."""
    today = _day_start(now)
    week = today - datetime.timedelta(days=today.weekday())
    rows = (
        Message.objects.filter(
            member_id__any=member_ids, kind=Kind.MARKETING, status__in=_COUNTED, created_at__gte=week
        )
        .values("member_id")
        .annotate(week=Count("pk"), day=Count("pk", filter=Q(created_at__gte=today)))
        .order_by()
    )
    return {row["member_id"]: (row["day"], row["week"]) for row in rows}


def messages_queue(
    outgoing: Sequence[Outgoing], *, now: datetime.datetime | None = None, locked: bool = False
) -> list[Message]:
    """Queue ``outgoing`` (a message per item, in order); an item whose key was queued before
    returns that message and queues nothing. The members are locked (in primary-key order) so
    two causes queueing for one member at once count each other against the caps, and read
    under the lock (a consent withdrawn a moment ago is seen). ``locked``: the caller already
    holds the members' locks in this transaction and read the items' members under them."""
    now = now or timezone.now()
    settings = MessagingSettings.current()
    keys = [o.key for o in outgoing]
    with transaction.atomic():
        member_ids = sorted({o.member.pk for o in outgoing})
        if locked:
            members = {o.member.pk: o.member for o in outgoing}
        else:
            locking = Member.objects.select_for_update().filter(pk__any=member_ids).order_by("pk")
            members = {m.pk: m for m in members_for_messages(locking)}
        existing = {m.key: m for m in Message.objects.filter(key__any=keys)}
        counts = {pk: list(c) for pk, c in _sent_so_far(member_ids, now).items()}
        by_channel: dict[str, dict[int, str]] = {}
        quiet = quiet_end(now, settings)
        new: list[Message] = []
        for item in outgoing:
            if item.key in existing:
                continue
            member = members[item.member.pk]
            if item.channel not in by_channel:
                channel_members = [members[o.member.pk] for o in outgoing if o.channel == item.channel]
                by_channel[item.channel] = addresses(channel_members, item.channel)
            recipient = by_channel[item.channel].get(member.pk, "")
            counted = counts.setdefault(member.pk, [0, 0])
            reason = _refusal(member, item, recipient, counted, settings)
            marketing = item.kind == Kind.MARKETING
            if not reason and marketing:
                counted[0] += 1
                counted[1] += 1
            message = Message(
                member=member,
                channel=item.channel,
                kind=item.kind,
                template=item.template,
                source=item.source,
                key=item.key,
                recipient=recipient,
                subject=item.subject,
                body=item.body,
                status=Message.Status.BLOCKED if reason else Message.Status.QUEUED,
                reason=reason,
                send_after=(quiet if marketing and quiet else now),
                created_at=now,
            )
            existing[item.key] = message
            new.append(message)
        # a key queued meanwhile by another transaction is seen above: both lock the member first
        bulk_insert(new)
    if any(m.status == Message.Status.QUEUED for m in new):
        transaction.on_commit(_kick)
    return [existing[k] for k in keys]


def _refusal(
    member: Member, item: Outgoing, recipient: str, counted: list[int], settings: MessagingSettings
) -> str:
    if member.status != Member.Status.ACTIVE:
        return Message.Reason.INACTIVE
    if not recipient:
        return Message.Reason.NO_ADDRESS
    if item.kind != Kind.MARKETING:
        return ""
    consent = CONSENT_OF[item.channel]
    if consent and not getattr(member, f"{consent}_consent"):
        return Message.Reason.NO_CONSENT
    if counted[0] >= settings.daily_cap:
        return Message.Reason.DAILY_CAP
    if counted[1] >= settings.weekly_cap:
        return Message.Reason.WEEKLY_CAP
    return ""


def message_queue(outgoing: Outgoing, *, now: datetime.datetime | None = None) -> Message:
    return messages_queue([outgoing], now=now)[0]


def _kick() -> None:
    from members.messaging.tasks import send_due  # the task module imports these services

    send_due.delay()


# --- sending ------------------------------------------------------------------------------


def messages_release_stale(*, now: datetime.datetime | None = None) -> int:
    """Claims older than ``LEASE`` (their worker died) are due again."""
    now = now or timezone.now()
    return Message.objects.filter(status=Message.Status.SENDING, claimed_at__lt=now - LEASE).update(
        status=Message.Status.QUEUED, claimed_at=None
    )


def messages_claim(*, limit: int, now: datetime.datetime | None = None) -> list[int]:
    """Take up to ``limit`` due messages for this worker, oldest due first."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(status=Message.Status.QUEUED, send_after__lte=now)
            .order_by("send_after", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        Message.objects.filter(pk__in=ids).update(status=Message.Status.SENDING, claimed_at=now)
    return ids


def _slot(message_id: int, channel: str, rate: float, wait: float) -> bool:
    """Take the channel's next send slot (outside the send's transaction, which would hold the
    channel's row until the gateway answers); without one in ``wait`` seconds the message goes
    back to the queue as it was: due, no attempt counted."""
    if rate_take(channel, rate, wait=wait) is not None:
        return True
    Message.objects.filter(pk=message_id, status=Message.Status.SENDING).update(
        status=Message.Status.QUEUED, claimed_at=None
    )
    return False


def message_send(
    message_id: int, *, now: datetime.datetime | None = None, wait: float | None = RATE_WAIT
) -> str:
    """Send one claimed message; returns its status afterwards. A channel with a rate waits up to
    ``wait`` seconds for a send slot, and without one puts the message back ("queued");
    ``wait=None``: the caller has taken the slot."""
    now = now or timezone.now()
    if wait is not None:
        channel = Message.objects.filter(pk=message_id).values_list("channel", flat=True).first()
        rate = provider_for(channel).rate_per_second if channel else 0
        if channel and rate and not _slot(message_id, channel, rate, wait):
            return Message.Status.QUEUED
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message_id)
        if message.status != Message.Status.SENDING:
            return message.status  # released and taken by another worker meanwhile
        later = quiet_end(now, MessagingSettings.current()) if message.kind == Kind.MARKETING else None
        if later:  # a retry that fell into quiet hours waits for the morning
            message.status, message.send_after = Message.Status.QUEUED, later
            message.save(update_fields=["status", "send_after"])
            return message.status
        message.attempts += 1
        try:
            with transaction.atomic():
                message.provider_ref = provider_for(message.channel).send(message)[:64]
        except ProviderError as error:
            message.last_error = str(error)[:200]
            if error.temporary and message.attempts < MAX_ATTEMPTS:
                message.status, message.send_after = (
                    Message.Status.QUEUED,
                    now + backoff(message.attempts, first=30, cap=3600),
                )
            else:
                message.status = Message.Status.FAILED
        else:
            message.status, message.sent_at, message.last_error = Message.Status.SENT, now, ""
        message.claimed_at = None
        message.save(
            update_fields=[
                "status",
                "send_after",
                "attempts",
                "provider_ref",
                "last_error",
                "sent_at",
                "claimed_at",
            ]
        )
        return message.status


def messages_send_local(
    message_ids: list[int], provider: LocalProvider, *, now: datetime.datetime | None = None
) -> int:
    """Send claimed messages of one channel whose provider only writes this database, all in one
    transaction: the records and the marks commit together, as one message's do in
    ``message_send`` (a worker killed half-way recorded none of them; they are claimed again
    after the lease). Returns how many were sent."""
    now = now or timezone.now()
    with transaction.atomic():
        messages = list(
            Message.objects.select_for_update()
            .filter(pk__in=message_ids, status=Message.Status.SENDING)  # not released meanwhile
            .order_by("pk")
        )
        later = quiet_end(now, MessagingSettings.current())
        waiting = [m for m in messages if later and m.kind == Kind.MARKETING]
        if waiting:  # retries that fell into quiet hours wait for the morning
            Message.objects.filter(pk__in=[m.pk for m in waiting]).update(
                status=Message.Status.QUEUED, send_after=later, claimed_at=None
            )
            messages = [m for m in messages if m not in waiting]
        for message, ref in zip(messages, provider.send_many(messages), strict=True):
            message.status, message.sent_at, message.provider_ref = Message.Status.SENT, now, ref[:64]
            message.attempts, message.last_error, message.claimed_at = message.attempts + 1, "", None
        bulk_set(messages, ["status", "sent_at", "provider_ref", "attempts", "last_error", "claimed_at"])
    return len(messages)


def messages_send_due(
    *, batch: int = 200, seconds: float = 50.0, now: datetime.datetime | None = None
) -> int:
    """Send due messages until none is due or ``seconds`` have passed; returns how many were sent.
    After ``seconds`` a claimed message waits for no send slot: if none is free it goes back to
    the queue for the next round. ``now``: a fixed clock (tests)."""
    started = time.monotonic()
    sent = 0
    messages_release_stale(now=now)
    while time.monotonic() - started < seconds:
        ids = messages_claim(limit=batch, now=now)
        if not ids:
            break
        channels = dict(Message.objects.filter(pk__in=ids).values_list("pk", "channel"))
        providers = {channel: provider_for(channel) for channel in set(channels.values())}
        rates = {channel: provider.rate_per_second for channel, provider in providers.items()}
        for channel, provider in providers.items():
            if isinstance(provider, LocalProvider) and not rates[channel]:
                local = [pk for pk in ids if channels[pk] == channel]
                sent += messages_send_local(local, provider, now=now)
                ids = [pk for pk in ids if channels[pk] != channel]
        throttled: set[str] = set()  # got no slot in this batch: the rest of the batch does not wait
        put_back = 0
        for message_id in ids:
            channel = channels[message_id]
            if rates[channel]:
                wait = 0.0 if channel in throttled else min(RATE_WAIT, started + seconds - time.monotonic())
                if not _slot(message_id, channel, rates[channel], max(wait, 0.0)):
                    throttled.add(channel)
                    put_back += 1
                    continue
            if message_send(message_id, now=now, wait=None) == Message.Status.SENT:
                sent += 1
        if ids and put_back == len(ids):
            break  # all at their channels' rates: the next round (beat, or the next commit) retries
    return sent


def inbox_mark_read(message: Message, *, now: datetime.datetime | None = None) -> Message:
    """The member read it: the first time stays."""
    Message.objects.filter(pk=message.pk, read_at__isnull=True).update(read_at=now or timezone.now())
    message.refresh_from_db(fields=["read_at"])
    return message
