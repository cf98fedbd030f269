"""Partner API endpoints of the message centre (wired under /api/v1/ by config/api.py): the app's
inbox, which the brand's mini-program reads for its member, and marking a message read."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from members.messaging.models import Message
from members.messaging.selectors import member_inbox
from members.messaging.services import inbox_mark_read
from members.partners.api.errors import not_found
from members.partners.api.views import PartnerAPIView, PartnerGenericView
from members.partners.models import Grant


class InboxMessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    subject = serializers.CharField()
    body = serializers.CharField(help_text="The text, its variables filled in.")
    sent_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True, help_text="Null until the member has read it.")


class InboxView(PartnerGenericView):
    """The member's inbox in the brand's app, newest first."""

    grant = Grant.MEMBERS_READ
    serializer_class = InboxMessageSerializer
    queryset = Message.objects.none()  # for the schema; requests use scoped_queryset()

    def scoped_queryset(self):
        return member_inbox(self.member(self.kwargs["member_number"]))

    @extend_schema(summary="A member's inbox", responses=InboxMessageSerializer(many=True))
    def get(self, request, member_number: str):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class InboxReadView(PartnerAPIView):
    grant = Grant.MEMBERS_WRITE

    @extend_schema(
        summary="Mark an inbox message read",
        description="Read once: marking it again keeps the first time. Another member's message is 404.",
        request=None,
        responses=InboxMessageSerializer,
    )
    def post(self, request, member_number: str, message_id: int):
        message = member_inbox(self.member(member_number)).filter(pk=message_id).first()
        if message is None:
            raise not_found()
        return Response(InboxMessageSerializer(inbox_mark_read(message)).data)


MEMBER = "members/<str:member_number>/"

urlpatterns = [
    path(f"{MEMBER}inbox/", InboxView.as_view(), name="api-member-inbox"),
    path(f"{MEMBER}inbox/<int:message_id>/read/", InboxReadView.as_view(), name="api-member-inbox-read"),
]
