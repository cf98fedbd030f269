"""The outbox: what blocks a message (consent, quiet hours, caps, an inactive member, no address),
queueing once per key, and sending each message exactly once, with retries."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest

from members.messaging.models import Channel, Kind, Message, MessagingSettings, RecordedMessage
from members.messaging.providers import ProviderError, RecordingProvider
from members.messaging.services import (
    Outgoing,
    message_queue,
    message_send,
    messages_claim,
    messages_send_due,
)
from members.models import Member
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

TZ = ZoneInfo("Asia/Shanghai")
NOON = datetime.datetime(2026, 12, 16, 12, tzinfo=TZ)  # a Wednesday


@pytest.fixture
def alice(db):
    return MemberFactory(name="Alice", consents={"sms": True}, email="alice@example.com")


def out(member, key, channel=Channel.SMS, kind=Kind.MARKETING) -> Outgoing:
    return Outgoing(member=member, channel=channel, body=f"您好 {key}", key=key, kind=kind, source="test")


def test_consent_is_needed_for_marketing_on_its_channel(alice):
    assert message_queue(out(alice, "sms"), now=NOON).status == Message.Status.QUEUED
    email = message_queue(out(alice, "email", Channel.EMAIL), now=NOON)
    assert (email.status, email.reason) == ("blocked", "no_consent")  # she gave SMS consent only
    # a service notice (a code, a receipt) needs no marketing consent; the inbox never does
    assert message_queue(out(alice, "code", Channel.EMAIL, Kind.SERVICE), now=NOON).status == "queued"
    assert message_queue(out(alice, "inbox", Channel.INBOX), now=NOON).status == "queued"
    recipient = Message.objects.get(key="sms").recipient
    assert recipient == alice.mobile.as_e164 and recipient.startswith("+86139") and " " not in recipient


def test_inactive_members_and_missing_addresses_get_nothing(alice):
    bob = MemberFactory(consents={"sms": True}, email="")
    Member.objects.filter(pk=alice.pk).update(status=Member.Status.FROZEN)
    alice.refresh_from_db()
    assert message_queue(out(alice, "a", kind=Kind.SERVICE), now=NOON).reason == "inactive"
    assert message_queue(out(bob, "b", Channel.EMAIL, Kind.SERVICE), now=NOON).reason == "no_address"


@pytest.mark.parametrize(
    ("hour", "minute", "waits_until"),
    [
        (22, 30, datetime.datetime(2026, 12, 17, 9, tzinfo=TZ)),  # evening: next morning
        (8, 0, datetime.datetime(2026, 12, 16, 9, tzinfo=TZ)),  # early: the same morning
        (21, 0, datetime.datetime(2026, 12, 17, 9, tzinfo=TZ)),  # quiet from 21:00 sharp
        (9, 0, None),  # and no longer at 09:00
    ],
)
def test_marketing_waits_out_quiet_hours(alice, hour, minute, waits_until):
    now = NOON.replace(hour=hour, minute=minute)
    message = message_queue(out(alice, "m"), now=now)
    assert message.send_after == (waits_until or now)
    assert messages_claim(limit=10, now=now) == ([] if waits_until else [message.pk])
    service = message_queue(out(alice, "s", kind=Kind.SERVICE), now=now)
    assert service.send_after == now  # notices go at once


def test_caps_per_day_and_week(alice):
    settings = MessagingSettings.current()
    settings.daily_cap, settings.weekly_cap = 2, 3
    settings.save()
    monday = NOON - datetime.timedelta(days=2)
    statuses = [message_queue(out(alice, f"mon{i}"), now=monday).reason for i in range(3)]
    assert statuses == ["", "", "daily_cap"]
    assert message_queue(out(alice, "tue-code", kind=Kind.SERVICE), now=monday).reason == ""  # not capped
    tuesday = monday + datetime.timedelta(days=1)
    assert [message_queue(out(alice, f"tue{i}"), now=tuesday).reason for i in range(2)] == ["", "weekly_cap"]
    next_monday = monday + datetime.timedelta(days=7)
    assert message_queue(out(alice, "next"), now=next_monday).reason == ""


def test_a_key_queues_once(alice):
    first = message_queue(out(alice, "expiry:2026-12-31"), now=NOON)
    again = message_queue(out(alice, "expiry:2026-12-31"), now=NOON)
    assert first.pk == again.pk
    assert Message.objects.count() == 1


def test_each_message_is_sent_once(alice):
    for key in ("a", "b"):
        message_queue(out(alice, key), now=NOON)
    message_queue(out(alice, "c", Channel.EMAIL), now=NOON)  # blocked: no email consent
    assert messages_send_due(now=NOON) == 2
    assert messages_send_due(now=NOON) == 0
    assert sorted(RecordedMessage.objects.values_list("body", flat=True)) == ["您好 a", "您好 b"]
    assert set(Message.objects.values_list("status", flat=True)) == {"sent", "blocked"}


def test_temporary_failures_back_off_and_permanent_ones_fail(alice, monkeypatch):
    message = message_queue(out(alice, "a", kind=Kind.SERVICE), now=NOON)
    failures = [
        ProviderError("timeout"),
        ProviderError("timeout"),
        ProviderError("号码无效", temporary=False),
    ]

    def send(self, message):
        raise failures.pop(0)

    monkeypatch.setattr(RecordingProvider, "send", send)
    now = NOON
    for attempt, wait in ((1, 30), (2, 60)):
        assert messages_claim(limit=5, now=now) == [message.pk]
        assert message_send(message.pk, now=now) == "queued"
        message.refresh_from_db()
        assert (message.attempts, message.send_after, message.last_error) == (
            attempt,
            now + datetime.timedelta(seconds=wait),
            "timeout",
        )
        assert messages_claim(limit=5, now=message.send_after - datetime.timedelta(seconds=1)) == []
        now = message.send_after
    messages_claim(limit=5, now=now)
    assert message_send(message.pk, now=now) == "failed"


def test_a_claim_left_by_a_dead_worker_is_sent_after_the_lease(alice):
    message = message_queue(out(alice, "a", kind=Kind.SERVICE))
    assert messages_claim(limit=5) == [message.pk]  # the worker that claimed it died here
    assert messages_send_due() == 0  # still within its lease
    Message.objects.filter(pk=message.pk).update(
        claimed_at=message.created_at - datetime.timedelta(minutes=6)
    )
    assert messages_send_due() == 1
    assert RecordedMessage.objects.filter(message=message).count() == 1


def test_a_batch_to_the_recording_provider_is_recorded_whole_or_not_at_all(alice, monkeypatch):
    """The recording provider (and the inbox) only write this database: a worker records its
    whole claimed batch and marks it sent in one transaction. Dying between the two records
    nothing; after the lease the batch is sent, each message once."""
    for key in ("a", "b", "c"):
        message_queue(out(alice, key, kind=Kind.SERVICE), now=NOON)

    def die(*args, **kwargs):
        raise SystemExit("killed")

    monkeypatch.setattr("members.messaging.services.bulk_set", die)  # after the records, before the marks
    with pytest.raises(SystemExit):
        messages_send_due(now=NOON)
    assert RecordedMessage.objects.count() == 0
    assert set(Message.objects.values_list("status", flat=True)) == {"sending"}
    monkeypatch.undo()
    assert messages_send_due(now=NOON) == 0  # still within the dead worker's lease
    later = NOON + datetime.timedelta(minutes=6)
    assert messages_send_due(now=later) == 3
    assert sorted(RecordedMessage.objects.values_list("body", flat=True)) == ["您好 a", "您好 b", "您好 c"]
    sent = Message.objects.all()
    assert {(m.status, m.attempts, m.sent_at) for m in sent} == {("sent", 1, later)}
    assert sorted(m.provider_ref for m in sent) == sorted(
        f"recorded-{pk}" for pk in RecordedMessage.objects.values_list("pk", flat=True)
    )
