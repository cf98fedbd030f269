"""What a partner can find out without guessing: who it is to the API (``GET /me/``: its stores,
channels, grants and rate limit) and the event types it may post. The tiers and point types
are listed by their apps (``tiers/api.py``, ``points/api.py``)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from members.models import Channel
from members.partners.api.serializers import EnumField
from members.partners.api.views import PartnerAPIView
from members.partners.models import Grant, PartnerKey, PartnerKind
from members.partners.selectors import partner_stores
from members.partners.services import IDEMPOTENCY_TTL
from members.purchases.models import EventType


class AnyPartnerKey(BasePermission):
    """Any valid key: what a partner may know about itself needs no grant."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, PartnerKey)


class StoreOutSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="As `store` in purchases, enrolments and coupon redemptions.")
    name = serializers.CharField()
    city = serializers.CharField()


class ChannelOutSerializer(serializers.Serializer):
    code = EnumField("SalesChannelEnum", choices=Channel.choices)
    name = serializers.CharField(help_text="In the request's language.")


class GrantOutSerializer(serializers.Serializer):
    code = EnumField("GrantEnum", choices=Grant.choices)
    name = serializers.CharField(help_text="In the request's language.")


class MeSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="The partner's code, as the brand's operators set it.")
    name = serializers.CharField()
    kind = EnumField(
        "PartnerKindEnum",
        choices=PartnerKind.choices,
        help_text="first_party (the brand's own systems: every member) or third_party (a member only "
        "with the code the customer shows), as the brand's operators set it.",
    )
    stores = StoreOutSerializer(many=True, help_text="Its active stores: the only `store` codes it may send.")
    channels = ChannelOutSerializer(many=True, help_text="The only `channel` values it may send.")
    grants = GrantOutSerializer(many=True, help_text="The operations it may call (others answer 403).")
    rate_per_minute = serializers.IntegerField(help_text="Requests per minute per key; above it, 429.")
    idempotency_retention_hours = serializers.IntegerField(
        help_text="How long a stored answer is replayed for the same Idempotency-Key, at least."
    )


def labelled(choices, codes) -> list[dict[str, str]]:
    names = dict(choices)
    return [{"code": code, "name": str(names[code])} for code in codes if code in names]


class MeView(PartnerAPIView):
    """The calling partner as the API sees it."""

    permission_classes = [AnyPartnerKey]

    @extend_schema(summary="This partner: its stores, channels, grants and limits", responses=MeSerializer)
    def get(self, request):
        partner = self.partner
        me = {
            "code": partner.code,
            "name": partner.name,
            "kind": partner.kind,
            "stores": partner_stores(partner).order_by("code"),
            "channels": labelled(Channel.choices, partner.channels),
            "grants": labelled(Grant.choices, [g for g in Grant.values if partner.has_grant(g)]),
            "rate_per_minute": partner.rate_per_minute,
            "idempotency_retention_hours": int(IDEMPOTENCY_TTL.total_seconds() // 3600),
        }
        return Response(MeSerializer(me).data)


class EventTypeSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="As `event_type` in `POST /events/`.")
    name = serializers.CharField()


class EventTypesView(PartnerAPIView):
    """The behaviour events the programme counts now (operators add and retire them)."""

    grant = Grant.EVENTS_WRITE

    @extend_schema(summary="Event types that can be posted", responses=EventTypeSerializer(many=True))
    def get(self, request):
        return Response(
            EventTypeSerializer(EventType.objects.filter(active=True).order_by("code"), many=True).data
        )
