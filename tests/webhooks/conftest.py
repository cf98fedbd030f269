from __future__ import annotations

from collections.abc import Iterator

import pytest

from members.partners.models import Partner, PartnerKind
from members.partners.services import partner_create
from members.webhooks.models import EventType, WebhookEndpoint
from members.webhooks.services import endpoint_save
from tests.webhooks import receiver as receiving


@pytest.fixture
def receiver(settings) -> Iterator[receiving.Receiver]:
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # the tests' receiver is on loopback
    server = receiving.start()
    yield server
    server.stop()


def make_partner(code: str, *, first_party: bool = False) -> Partner:
    kind = PartnerKind.FIRST_PARTY if first_party else PartnerKind.THIRD_PARTY
    return partner_create(code=code, name=code.upper(), kind=kind)


def subscribe(partner: Partner, url: str, types: list[str] | None = None) -> tuple[WebhookEndpoint, str]:
    endpoint, secret = endpoint_save(
        endpoint=WebhookEndpoint(partner=partner, url=url, event_types=types or list(EventType.values))
    )
    assert secret is not None
    return endpoint, secret
