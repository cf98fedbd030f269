"""Webhook locks racing on PostgreSQL: two facts of one member committing at once get
consecutive sequence numbers, two workers never claim the same event, two rotations at once keep
both new secrets. Each lock test has its control beside it (``[control]``): the lock off."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from members.webhooks.delivery import events_claim
from members.webhooks.models import EventType, WebhookEvent
from members.webhooks.services import Fact, endpoint_rotate_secret, webhook_emit
from tests.concurrency import LOCKED_AND_CONTROL, race, unless
from tests.factories import MemberFactory
from tests.webhooks.conftest import make_partner, subscribe

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and races need PostgreSQL"),
]


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_facts_of_one_member_at_once_get_consecutive_numbers(locked: bool):
    brand = make_partner("brand", first_party=True)
    subscribe(brand, "http://93.184.215.14/hook", [EventType.POINTS_EXPIRING])
    member = MemberFactory()
    # the counter row exists (a first insert would make the second wait on its unique index)
    webhook_emit(EventType.POINTS_EXPIRING, [Fact(member.pk, "earlier", {})])

    def emit(i: int) -> int:
        with transaction.atomic():
            return webhook_emit(EventType.POINTS_EXPIRING, [Fact(member.pk, f"fact-{i}", {"i": i})])

    with unless(locked, "members/webhooks/services.py::_take_sequences"):
        results = race(2, emit, meet=r'^UPDATE "webhooks_webhooksequence"|^UPDATE webhooks_webhooksequence')
    numbers = sorted(WebhookEvent.objects.values_list("sequence", flat=True))
    if locked:
        assert results == [1, 1]
        assert numbers == [1, 2, 3]
    else:  # both read 1 and took 2: the unique constraint refused the second
        assert sorted(type(r).__name__ for r in results) == ["IntegrityError", "int"]
        assert numbers == [1, 2]


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_workers_claiming_at_once_take_different_events(locked: bool):
    brand = make_partner("brand", first_party=True)
    subscribe(brand, "http://93.184.215.14/hook", [EventType.POINTS_EXPIRING])
    member = MemberFactory()
    webhook_emit(EventType.POINTS_EXPIRING, [Fact(member.pk, f"f{i}", {}) for i in range(4)])
    with unless(locked, "members/webhooks/delivery.py::events_claim"):
        claimed = race(2, lambda i: events_claim(limit=4), meet=r'^UPDATE "webhooks_webhookevent"')
    if locked:
        assert sorted(claimed[0] + claimed[1]) == sorted(WebhookEvent.objects.values_list("pk", flat=True))
        assert not set(claimed[0]) & set(claimed[1])
    else:
        assert claimed[0] == claimed[1]  # both would send all four


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_rotations_at_once_keep_the_first_new_secret_as_the_previous_one(locked: bool):
    """Two administrators rotate at once: the secret the first was shown must still sign (as the
    previous one) after the second rotation, or the partner who installed it loses events."""
    brand = make_partner("brand", first_party=True)
    endpoint, original = subscribe(brand, "http://93.184.215.14/hook")
    with unless(locked, "members/webhooks/services.py::endpoint_rotate_secret"):
        shown = race(
            2, lambda i: endpoint_rotate_secret(endpoint=endpoint), meet=r'^UPDATE "webhooks_webhookendpoint"'
        )
    endpoint.refresh_from_db()
    if locked:
        assert {endpoint.secret, endpoint.previous_secret} == set(shown)
    else:  # both replaced the original: one of the secrets shown signs nothing
        assert endpoint.previous_secret == original
