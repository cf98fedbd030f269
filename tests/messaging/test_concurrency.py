"""Queueing and sending racing on PostgreSQL: two causes queueing for one member count each other
against the caps, two workers never claim the same message, and a message two workers hold at
once is sent once. Each lock test has its control beside it (``[control]``): the lock off.
"""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection

from members.messaging.models import Channel, Kind, Message, MessagingSettings, RecordedMessage
from members.messaging.providers import RecordingProvider
from members.messaging.services import (
    Outgoing,
    message_queue,
    message_send,
    messages_claim,
    messages_send_local,
)
from tests.concurrency import LOCKED_AND_CONTROL, race, unless
from tests.factories import MemberFactory
from tests.messaging.test_outbox import NOON

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and races need PostgreSQL"),
]
INSERT_MESSAGE = r'^INSERT INTO "messaging_message"'


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_causes_at_once_count_each_other_against_the_daily_cap(locked: bool):
    settings = MessagingSettings.current()
    settings.daily_cap = 1
    settings.save()
    member = MemberFactory(consents={"sms": True})

    def queue(i: int) -> str:
        return message_queue(
            Outgoing(member=member, channel=Channel.SMS, body="hi", key=f"cause-{i}"), now=NOON
        ).reason

    with unless(locked, "members/messaging/services.py::messages_queue"):
        reasons = race(2, queue, meet=INSERT_MESSAGE)
    if locked:
        assert sorted(reasons) == ["", "daily_cap"]
    else:
        assert reasons == ["", ""]  # both went: the cap of one let two through


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_workers_claiming_at_once_take_different_messages(locked: bool):
    member = MemberFactory()
    for i in range(4):
        message_queue(
            Outgoing(member=member, channel=Channel.INBOX, body="hi", key=f"m{i}", kind=Kind.SERVICE),
            now=NOON,
        )
    with unless(locked, "members/messaging/services.py::messages_claim"):
        claimed = race(2, lambda i: messages_claim(limit=4, now=NOON), meet=r'^UPDATE "messaging_message"')
    if locked:
        assert sorted(claimed[0] + claimed[1]) == sorted(Message.objects.values_list("pk", flat=True))
        assert not set(claimed[0]) & set(claimed[1])
    else:
        assert claimed[0] == claimed[1]  # both would send all four


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_a_message_two_workers_hold_is_sent_once(locked: bool):
    """A worker slow past its lease and the one that took the message over send at once."""
    member = MemberFactory(consents={"sms": True})
    message = message_queue(
        Outgoing(member=member, channel=Channel.SMS, body="hi", key="m", kind=Kind.SERVICE), now=NOON
    )
    messages_claim(limit=1, now=NOON)
    with unless(locked, "members/messaging/services.py::message_send"):
        results = race(
            2, lambda i: message_send(message.pk, now=NOON), meet=r'^INSERT INTO "messaging_recorded'
        )
    assert RecordedMessage.objects.count() == 1
    if locked:
        assert sorted(results) == ["sent", "sent"]  # the second found it sent and did nothing
    else:
        assert sum(isinstance(r, IntegrityError) for r in results) == 1, results  # sent twice


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_a_batch_two_workers_hold_is_recorded_once(locked: bool):
    """The recording provider's batches: a worker slow past its lease and the one that took its
    batch over record at once; the batch is recorded once, by one of them."""
    member = MemberFactory(consents={"sms": True})
    for key in ("a", "b", "c"):
        message_queue(
            Outgoing(member=member, channel=Channel.SMS, body=key, key=key, kind=Kind.SERVICE), now=NOON
        )
    ids = messages_claim(limit=5, now=NOON)
    with unless(locked, "members/messaging/services.py::messages_send_local"):
        results = race(
            2,
            lambda i: messages_send_local(ids, RecordingProvider(), now=NOON),
            meet=r"^SELECT nextval\(pg_get_serial_sequence",  # the records' ids, before their COPY
        )
    assert RecordedMessage.objects.count() == 3
    if locked:
        assert sorted(results) == [0, 3]  # the second found them sent and did nothing
    else:
        assert sum(isinstance(r, IntegrityError) for r in results) == 1, results  # recorded twice
