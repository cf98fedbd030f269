"""Unsubscribing, by the link in a message or by replying TD to an SMS, withdraws the consent
with its trail, and nothing marketing goes out after; gateways' callbacks are signed and checked."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from django.urls import reverse

from members.messaging.models import Channel, Kind, Message
from members.messaging.replies import unsubscribe_url
from members.messaging.services import Outgoing, message_queue, messages_send_due
from members.models import ConsentRecord
from tests.factories import MemberFactory
from tests.messaging.test_outbox import NOON

pytestmark = pytest.mark.django_db
SECRET = "gateway-shared-secret"


@pytest.fixture
def alice(db):
    return MemberFactory(name="Alice", mobile="13900001234", consents={"sms": True, "email": True})


def marketing(member, key, channel=Channel.SMS) -> Message:
    return message_queue(Outgoing(member=member, channel=channel, body="新品上市", key=key), now=NOON)


def test_the_link_in_a_message_unsubscribes_with_a_trail(client, alice, settings):
    settings.PUBLIC_URL = "https://loyalty.example.cn"
    url = unsubscribe_url(alice, Channel.SMS)
    assert url.startswith("https://loyalty.example.cn/m/unsubscribe/") and "1390000" not in url
    path = url.removeprefix("https://loyalty.example.cn")
    page = client.get(path)
    assert "是否停止通过短信接收营销消息？" in page.content.decode()
    alice.refresh_from_db()
    assert alice.sms_consent  # opening the page changes nothing
    done = client.post(path)
    assert "已退订" in done.content.decode()
    alice.refresh_from_db()
    assert (alice.sms_consent, alice.email_consent) == (False, True)
    record = ConsentRecord.objects.filter(member=alice, channel="sms").latest("recorded_at")
    assert (record.granted, record.source) == (False, "unsubscribe link")
    assert marketing(alice, "after").reason == "no_consent"
    assert client.post(path[:-5] + "xxxx/").status_code == 404  # a forged token


def signed(client, name: str, body: dict, *, secret: str = SECRET, age: int = 0):
    raw = json.dumps(body).encode()
    stamp = str(int(time.time()) - age)
    signature = hmac.new(secret.encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return client.post(
        reverse(f"messaging:{name}"), raw, content_type="application/json",
        headers={"X-Timestamp": stamp, "X-Signature": signature},
    )  # fmt: skip


def test_replying_td_unsubscribes_the_sender(client, alice, settings):
    settings.MESSAGING_CALLBACK_SECRET = SECRET
    assert signed(client, "sms_replies", {"phone": "13900001234", "text": "好的"}).json() == {
        "unsubscribed": False
    }
    assert signed(client, "sms_replies", {"phone": "+86 139 0000 1234", "text": " td "}).json() == {
        "unsubscribed": True
    }
    alice.refresh_from_db()
    assert not alice.sms_consent
    assert (
        ConsentRecord.objects.filter(member=alice, channel="sms", granted=False, source="SMS reply").count()
        == 1
    )
    assert signed(client, "sms_replies", {"phone": "13900009999", "text": "TD"}).json() == {
        "unsubscribed": False
    }


def test_callbacks_must_be_signed_recently_and_well_formed(client, alice, settings):
    settings.MESSAGING_CALLBACK_SECRET = SECRET
    body = {"phone": "13900001234", "text": "TD"}
    assert signed(client, "sms_replies", body, secret="guess").status_code == 401
    assert signed(client, "sms_replies", body, age=600).status_code == 401  # a replayed callback
    bad = signed(client, "sms_replies", {"phone": "13900001234"})
    assert (bad.status_code, bad.json()) == (400, {"error": "text：需要文本。"})
    alice.refresh_from_db()
    assert alice.sms_consent
    settings.MESSAGING_CALLBACK_SECRET = ""
    assert signed(client, "sms_replies", body).status_code == 401  # no secret set: nothing accepted


def test_delivery_receipts_update_the_message(client, alice, settings):
    settings.MESSAGING_CALLBACK_SECRET = SECRET
    message = message_queue(
        Outgoing(member=alice, channel=Channel.SMS, body="验证码 1234", key="otp", kind=Kind.SERVICE)
    )
    messages_send_due()
    message.refresh_from_db()
    assert signed(client, "receipts", {"reference": message.provider_ref, "status": "delivered"}).json() == {
        "found": True
    }
    message.refresh_from_db()
    assert message.status == "delivered" and message.delivered_at is not None
    assert signed(client, "receipts", {"reference": "nope", "status": "delivered"}).json() == {"found": False}
