"""Providers: what actually sends a message on a channel, behind one interface.

``MESSAGING_PROVIDERS`` (settings) names the provider of each channel; the default for every
channel is ``recording``, which sends nothing and keeps exactly what would have gone out
(``RecordedMessage``), so an operator of a new programme sees its messages before any gateway is
connected. A provider gets the message's id as its idempotency key: the recording provider
cannot record a message twice (a unique constraint), and gateways that take a caller's serial
number (most Chinese SMS gateways do) drop a resent one.

The real channels: ``sms`` (``sms.SignedHttpSmsProvider``, a signed HTTP gateway), ``wechat``
(``wechat.WeChatSubscribeProvider``: subscribe or template messages to the member's OpenID) and
``email`` (``email.EmailProvider``: Django's email backend). Each raises ``ProviderError`` saying
whether a retry can help. ``MESSAGING_RATES`` gives a channel's sends a second, kept across all
workers (``members/messaging/rates.py``). The recording provider and the inbox write only this
database (``LocalProvider``): workers send their messages a batch per transaction.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from config.common.bulk import bulk_insert
from members.messaging.models import Channel, Message, RecordedMessage


class ProviderError(Exception):
    """A send that did not go through. ``temporary``: worth retrying later (a timeout, a rate
    limit, a 5xx); otherwise the message fails at once (a number the gateway refuses)."""

    def __init__(self, message: str, *, temporary: bool = True) -> None:
        super().__init__(message)
        self.temporary = temporary


class Provider(Protocol):
    #: at most this many sends a second, all worker processes together (0: no limit); the
    #: class's own value unless MESSAGING_RATES names the channel
    rate_per_second: float

    def send(self, message: Message) -> str:
        """Send (or record) ``message``; returns the provider's reference for it."""


@runtime_checkable
class LocalProvider(Provider, Protocol):
    """A provider that only writes this database (nothing leaves it): the workers send its
    messages a batch at a time, the batch's records and marks in one transaction."""

    def send_many(self, messages: Sequence[Message]) -> list[str]:
        """``send`` for each of ``messages``, in order."""


class RecordingProvider:
    """Sends nothing: keeps the message as it would have gone out."""

    rate_per_second = 0.0

    def send(self, message: Message) -> str:
        return self.send_many([message])[0]

    def send_many(self, messages: Sequence[Message]) -> list[str]:
        now, worker = timezone.now(), f"{os.uname().nodename}:{os.getpid()}"
        recorded = bulk_insert(
            [
                RecordedMessage(
                    message=message,
                    channel=message.channel,
                    recipient=message.recipient,
                    subject=message.subject,
                    body=message.body,
                    recorded_at=now,
                    worker=worker,
                )
                for message in messages
            ]
        )
        return [f"recorded-{r.pk}" for r in recorded]


class InboxProvider:
    """The app's inbox is ours: a sent inbox message is one the brand's app reads through the API."""

    rate_per_second = 0.0

    def send(self, message: Message) -> str:
        return "inbox"

    def send_many(self, messages: Sequence[Message]) -> list[str]:
        return ["inbox"] * len(messages)


_PROVIDERS = {
    "recording": "members.messaging.providers.RecordingProvider",
    "inbox": "members.messaging.providers.InboxProvider",
    "sms": "members.messaging.providers.sms.SignedHttpSmsProvider",
    "wechat": "members.messaging.providers.wechat.WeChatSubscribeProvider",
    "email": "members.messaging.providers.email.EmailProvider",
}


def provider_for(channel: str) -> Provider:
    default = "inbox" if channel == Channel.INBOX else "recording"
    name = getattr(settings, "MESSAGING_PROVIDERS", {}).get(channel, default)
    provider: Provider = import_string(_PROVIDERS.get(name, name))()
    rates = getattr(settings, "MESSAGING_RATES", {})
    if channel in rates:
        provider.rate_per_second = rates[channel]
    return provider
