"""Reading messages."""

from __future__ import annotations

from django.db.models import QuerySet

from members.messaging.models import Channel, Message
from members.models import Member


def member_inbox(member: Member) -> QuerySet[Message]:
    """The member's inbox messages that have been sent (a queued one is not there yet), newest first."""
    return Message.objects.filter(
        member=member, channel=Channel.INBOX, status__in=[Message.Status.SENT, Message.Status.DELIVERED]
    ).order_by("-pk")
