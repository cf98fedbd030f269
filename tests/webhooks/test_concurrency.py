"""Sequence numbers race on PostgreSQL: two facts of one member committing at once get 1 and 2,
never the same number twice. The control (``[control]``) turns the counter's lock off."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from members.webhooks.models import EventType, WebhookEvent
from members.webhooks.services import Fact, webhook_emit
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
