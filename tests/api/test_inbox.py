"""The app's inbox through the partner API: what the mini-program shows its member."""

from __future__ import annotations

import pytest

from members.messaging.models import Channel, Kind
from members.messaging.services import Outgoing, message_queue, messages_send_due
from members.models import Member

pytestmark = pytest.mark.django_db


def test_the_inbox_lists_sent_messages_newest_first_and_marks_read_once(partner_a):
    number = partner_a.post("/api/v1/members/", {"mobile": "13812345678"}).json()["member_number"]
    member = Member.objects.get(member_number=number)
    for i in range(2):
        message_queue(
            Outgoing(member=member, channel=Channel.INBOX, body=f"第{i}条", key=f"m{i}", kind=Kind.SERVICE)
        )
    messages_send_due()
    queued = message_queue(
        Outgoing(member=member, channel=Channel.INBOX, body="还在排队", key="later", kind=Kind.SERVICE)
    )
    message_queue(Outgoing(member=member, channel=Channel.SMS, body="短信", key="sms", kind=Kind.SERVICE))
    inbox = partner_a.get(f"/api/v1/members/{number}/inbox/").json()["results"]
    assert [m["body"] for m in inbox] == ["第1条", "第0条"]  # not the queued one, not the SMS
    assert inbox[0]["read_at"] is None
    first = partner_a.post(f"/api/v1/members/{number}/inbox/{inbox[0]['id']}/read/", {}).json()
    assert first["read_at"] is not None
    again = partner_a.post(f"/api/v1/members/{number}/inbox/{inbox[0]['id']}/read/", {}).json()
    assert again["read_at"] == first["read_at"]  # the first time stays
    missing = partner_a.post(f"/api/v1/members/{number}/inbox/{queued.pk}/read/", {})
    assert missing.status_code == 404
