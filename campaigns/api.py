"""Partner API endpoints of the campaigns app (wired under /api/v1/ by config/api.py).

Purchases, refunds and behaviour events in, through the earning pipeline, with what they earned
explained; and the points a basket would earn, with nothing written.
"""

from __future__ import annotations

from decimal import Decimal

import django_filters
from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from campaigns.api_amounts import amount, check_amounts, optional_amount
from campaigns.earning.answers import award_review, award_summary, purchase_history
from campaigns.earning.facts import event_record_and_earn, purchase_record_and_earn, refund_record_and_earn
from campaigns.earning.previews import preview_summary, purchase_preview
from campaigns.models import AwardLine, AwardReview
from campaigns.selectors import member_tier, recent_rule_book
from members.models import Channel, Member
from members.partners.api.filters import DateTimeFilter
from members.partners.api.serializers import (
    MOMENT_HELP,
    EnumField,
    Moment,
    PartnerStoreField,
    Strict,
    cny,
    quantity,
)
from members.partners.api.views import PartnerAPIView, PartnerViewSet
from members.partners.models import Grant, Partner
from members.partners.selectors import partner_purchases
from members.partners.services import partner_event_key
from members.purchases.models import Purchase
from members.purchases.services import Line
from points.api import BalanceSerializer
from points.cash.api import PartnerHoldField
from points.selectors import member_balance_sheet

#: An order number names a URL (``/purchases/<order_number>/``): no slash, no control characters.
ORDER_NUMBER = r"[^/\x00-\x1f\x7f]{1,64}"
#: ... and, as posted, not only spaces (they are trimmed, and nothing would be left).
ORDER_NUMBER_IN = r"^[^/\x00-\x1f\x7f]*[^/\s\x00-\x1f\x7f][^/\x00-\x1f\x7f]*$"
MAX_LINES = 500


# --- input ------------------------------------------------------------------------------------


class PartnerScoped(Strict):
    """The channel must be one the partner (``context["partner"]``) may post for."""

    @property
    def partner(self) -> Partner:
        return self.context["partner"]

    def validate_channel(self, value: str) -> str:
        if value not in self.partner.channels:
            raise serializers.ValidationError(_("Not one of this partner's channels."))
        return value


class PurchaseLineInSerializer(Strict):
    sku = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    category = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    quantity = quantity(required=False, default=Decimal(1))
    amount = amount(help_text="What the customer paid for the line, in CNY.")


class PurchaseInSerializer(PartnerScoped):
    member_number = serializers.CharField(max_length=16)
    order_number = serializers.RegexField(
        ORDER_NUMBER_IN,
        max_length=64,
        help_text="Unique per partner; no slashes (it names the purchase's URL).",
        error_messages={"invalid": _("Up to 64 characters, without slashes or control characters.")},
    )
    channel = EnumField(
        "SalesChannelEnum", choices=Channel.choices, help_text="One of the partner's channels."
    )
    store = PartnerStoreField(required=False, allow_null=True)
    occurred_at = Moment(help_text=MOMENT_HELP)
    gross_amount = amount(help_text="Before discounts, CNY.")
    paid_amount = amount(
        help_text="What the customer paid, CNY (shipping, gift cards, points included); at most the gross."
    )
    shipping_amount = optional_amount(
        help_text="Part of the paid amount that was shipping (at most the paid amount); earns nothing."
    )
    gift_card_amount = optional_amount(
        help_text="Part paid with gift cards; with points_amount at most the paid amount. Earns nothing."
    )
    points_amount = optional_amount(
        help_text="Part paid with points; with gift_card_amount at most the paid amount. Earns nothing. "
        "With `points_hold`: the hold's value (the default), or refused."
    )
    points_hold = PartnerHoldField(required=False)
    # DRF passes max_length on to the ListSerializer (LIST_SERIALIZER_KWARGS); its stubs'
    # Serializer.__init__ lacks it.
    lines = PurchaseLineInSerializer(  # type: ignore[call-arg]
        many=True,
        required=False,
        default=list,
        max_length=MAX_LINES,
        help_text="May list less than was paid (the rest earns as the basket's unlisted part), never more.",
    )

    def validate(self, data):
        if (hold := data.get("points_hold")) is not None and "points_amount" not in self.initial_data:
            data["points_amount"] = hold.value
        check_amounts(
            data,
            paid="paid_amount",
            shipping="shipping_amount",
            gift_card="gift_card_amount",
            points="points_amount",
        )
        return data


class RefundInSerializer(Strict):
    refund_number = serializers.CharField(max_length=64, help_text="Unique per partner.")
    amount = cny(positive=True, help_text="CNY given back; at most what is left of the paid amount.")
    occurred_at = Moment(help_text=f"{MOMENT_HELP} Not before the purchase.")


class EventInSerializer(PartnerScoped):
    member_number = serializers.CharField(max_length=16)
    event_type = serializers.SlugField(max_length=32, help_text="Code of an active event type.")
    key = serializers.CharField(
        max_length=64,
        help_text="Makes the event count once per event type for this partner, e.g. "
        "`signin:<member>:<day>`. A registration counts once per member (its key is ignored). "
        "The same key again with another member, time or channel is a 409.",
    )
    occurred_at = Moment(help_text=MOMENT_HELP)
    channel = EnumField(
        "SalesChannelEnum",
        choices=Channel.choices,
        required=False,
        help_text="One of the partner's channels (default: its first).",
    )


class PreviewLineInSerializer(Strict):
    sku = serializers.CharField(max_length=64)
    category = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    amount = amount()


class PreviewInSerializer(PartnerScoped):
    """A basket at checkout, with a purchase's field names and rules."""

    # ``source`` gives purchase_preview's argument names

    member_number = serializers.CharField(max_length=16)
    channel = EnumField(
        "SalesChannelEnum", choices=Channel.choices, help_text="One of the partner's channels."
    )
    store = PartnerStoreField(required=False, allow_null=True)
    paid_amount = amount(source="paid")
    gross_amount = amount(source="gross", required=False, allow_null=True, default=None)
    shipping_amount = optional_amount(source="shipping")
    gift_card_amount = optional_amount(source="gift_card")
    points_amount = optional_amount()
    # max_length: DRF hands it to the ListSerializer; the stubs' Serializer.__init__ lacks it
    lines = PreviewLineInSerializer(  # type: ignore[call-arg]
        many=True, required=False, default=list, max_length=MAX_LINES
    )

    def validate(self, data):
        if data["gross"] is not None and data["paid"] > data["gross"]:
            raise serializers.ValidationError(
                {"paid_amount": [_("The paid amount cannot exceed the gross amount.")]}
            )
        check_amounts(data, paid="paid", shipping="shipping", gift_card="gift_card", points="points_amount")
        return data


# --- output -----------------------------------------------------------------------------------


class AwardLineSerializer(serializers.Serializer):
    kind = EnumField("AwardLineKindEnum", choices=AwardLine.Kind.choices)
    point_type = serializers.CharField(allow_null=True, help_text="Point type code; null for a coupon.")
    amount = serializers.IntegerField(help_text="Negative when a refund takes points back.")
    campaign = serializers.CharField(allow_null=True, help_text="The campaign's name, if one gave it.")
    explanation = serializers.CharField(help_text="In the request's language.")


class TotalsSerializer(serializers.Serializer):
    points = serializers.IntegerField()
    growth = serializers.IntegerField()


class AwardSerializer(serializers.Serializer):
    """What one fact earned (or a refund took back), line by line."""

    lines = AwardLineSerializer(many=True)
    totals = TotalsSerializer()


class PreviewSerializer(AwardSerializer):
    """What the basket would earn now, line by line; nothing is recorded."""


class TierBriefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


def money(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=12, decimal_places=2, **kwargs)


class PurchaseSerializer(serializers.Serializer):
    order_number = serializers.CharField()
    channel = EnumField("SalesChannelEnum", choices=Channel.choices)
    store = serializers.CharField(source="store.code", allow_null=True)
    occurred_at = serializers.DateTimeField()
    gross_amount = money()
    paid_amount = money()
    refunded_amount = money()
    status = EnumField("PurchaseStatusEnum", choices=Purchase.Status.choices)
    member_number = serializers.CharField(source="member.member_number")


class ReviewSerializer(serializers.Serializer):
    """An award held for review (above the brand's review limit, or its member is frozen):
    recorded and explained, its points not posted until an approver releases it (then exactly
    these, less refunds since) or rejects it."""

    status = EnumField("AwardReviewStatusEnum", choices=AwardReview.Status.choices)
    reason = EnumField("AwardReviewReasonEnum", choices=AwardReview.Reason.choices)
    points = TotalsSerializer(help_text="What is held, per point type.")
    limits = serializers.DictField(
        child=serializers.IntegerField(), help_text="The limits it went over, per point type code."
    )
    message = serializers.CharField(help_text="In the request's language.")


class PurchaseResultSerializer(serializers.Serializer):
    purchase = PurchaseSerializer()
    award = AwardSerializer()
    review = ReviewSerializer(
        allow_null=True, help_text="Null unless the award is held for review: then balances did not move."
    )
    balances = BalanceSerializer(many=True)
    tier = TierBriefSerializer(allow_null=True)


class RefundSerializer(serializers.Serializer):
    refund_number = serializers.CharField()
    order_number = serializers.CharField(source="purchase.order_number")
    amount = money()
    occurred_at = serializers.DateTimeField()


class RefundResultSerializer(serializers.Serializer):
    refund = RefundSerializer()
    purchase = PurchaseSerializer(help_text="The purchase after the refund.")
    award = AwardSerializer(help_text="What the refund took back (negative amounts).")
    balances = BalanceSerializer(many=True)
    tier = TierBriefSerializer(allow_null=True)


class RefundHistorySerializer(serializers.Serializer):
    refund_number = serializers.CharField(source="refund.refund_number")
    amount = money(source="refund.amount")
    occurred_at = serializers.DateTimeField(source="refund.occurred_at")
    award = AwardSerializer(allow_null=True)


class PurchaseDetailSerializer(serializers.Serializer):
    purchase = PurchaseSerializer()
    award = AwardSerializer(allow_null=True, help_text="What it earned; null if not processed yet.")
    refunds = RefundHistorySerializer(many=True)


class EventSerializer(serializers.Serializer):
    event_type = serializers.CharField(source="event_type.code")
    key = serializers.SerializerMethodField()
    channel = EnumField("SalesChannelEnum", choices=Channel.choices)
    occurred_at = serializers.DateTimeField()
    member_number = serializers.CharField(source="member.member_number")

    def get_key(self, event) -> str:
        return event.key.removeprefix(f"{self.context['partner'].source}:")


class EventResultSerializer(serializers.Serializer):
    event = EventSerializer()
    award = AwardSerializer()
    review = ReviewSerializer(
        allow_null=True, help_text="Null unless the award is held for review: then balances did not move."
    )
    balances = BalanceSerializer(many=True)


# --- views ------------------------------------------------------------------------------------


def standing(member: Member) -> dict:
    """The member's balances and tier after a fact, for the response."""
    return {"balances": member_balance_sheet(member), "tier": member_tier(member)}


def created_or_ok(created: bool) -> int:
    return status.HTTP_201_CREATED if created else status.HTTP_200_OK


class PurchaseFilter(django_filters.FilterSet):
    member_number = django_filters.CharFilter(field_name="member__member_number")
    store = django_filters.CharFilter(field_name="store__code", help_text="Store code.")
    status = django_filters.ChoiceFilter(choices=Purchase.Status.choices)
    occurred_after = DateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = DateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = Purchase
        fields = ["status"]


class PurchaseViewSet(PartnerViewSet):
    """Purchases this partner posted, and their refunds. Other partners' orders are 404."""

    lookup_field = "order_number"
    lookup_value_regex = ORDER_NUMBER
    serializer_class = PurchaseSerializer
    filterset_class = PurchaseFilter
    grants = {"GET": Grant.PURCHASES_READ, "POST": Grant.PURCHASES_WRITE}

    queryset = Purchase.objects.none()  # for the schema; requests use scoped_queryset()

    def scoped_queryset(self):
        return partner_purchases(self.partner).select_related("store", "member")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "partner": self.partner}

    @extend_schema(summary="List this partner's purchases")
    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(summary="One purchase, what it earned and its refunds", responses=PurchaseDetailSerializer)
    def retrieve(self, request, order_number: str):
        return Response(PurchaseDetailSerializer(purchase_history(self.get_object())).data)

    @extend_schema(
        summary="Post a purchase and award it",
        description=(
            "Records the purchase once per order number and runs it through the earning rules "
            "(base rate, tier multiplier, live campaigns). 201 when recorded now; 200 when the same "
            "order was already recorded with the same content (nothing is awarded twice); 409 when "
            "the order number was recorded with different content."
        ),
        request=PurchaseInSerializer,
        responses={201: PurchaseResultSerializer, 200: PurchaseResultSerializer},
    )
    def create(self, request):
        values = self.validated(PurchaseInSerializer)
        member = self.member(values.pop("member_number"))
        lines = [Line(**line) for line in values.pop("lines")]
        purchase, created, award = purchase_record_and_earn(
            member=member, source=self.partner.source, lines=lines, **values, book=recent_rule_book()
        )
        result = {
            "purchase": self.get_queryset().get(pk=purchase.pk),
            "award": award_summary(award),
            "review": award_review(award),
        }
        return Response(
            PurchaseResultSerializer({**result, **standing(member)}).data, status=created_or_ok(created)
        )

    @extend_schema(
        summary="Post a refund of a purchase and take back what it earned",
        description=(
            "Takes back points and growth in proportion to the CNY refunded so far. 201 when "
            "recorded now, 200 for the same refund again, 409 for its number with different "
            "content, 422 `too_much` for more than is left to refund."
        ),
        request=RefundInSerializer,
        responses={201: RefundResultSerializer, 200: RefundResultSerializer},
    )
    @action(detail=True, methods=["post"])
    def refunds(self, request, order_number: str):
        purchase = self.get_object()
        data = self.validated(RefundInSerializer)
        refund, created, award = refund_record_and_earn(
            purchase=purchase, source=self.partner.source, **data, book=recent_rule_book()
        )
        purchase = self.get_queryset().get(pk=purchase.pk)
        result = {"refund": refund, "purchase": purchase, "award": award_summary(award)}
        return Response(
            RefundResultSerializer({**result, **standing(purchase.member)}).data,
            status=created_or_ok(created),
        )


class EventView(PartnerAPIView):
    """A behaviour event (sign-in, review, share ...) of one of this partner's members."""

    grant = Grant.EVENTS_WRITE

    @extend_schema(
        summary="Post a behaviour event and award it",
        description=(
            "Recorded once per (event type, key): 201 when recorded now, 200 for the same event "
            "again (same member, occurred_at and channel), 409 `conflict` naming `key` when the key "
            "was recorded with another member, time or channel."
        ),
        request=EventInSerializer,
        responses={201: EventResultSerializer, 200: EventResultSerializer},
    )
    def post(self, request):
        values = self.validated(EventInSerializer)
        member = self.member(values.pop("member_number"))
        values.setdefault("channel", (self.partner.channels or [Channel.PARTNER])[0])
        values["key"] = partner_event_key(self.partner, member, values["event_type"], values["key"])
        event, created, award = event_record_and_earn(member=member, **values, book=recent_rule_book())
        result = {
            "event": event,
            "award": award_summary(award),
            "review": award_review(award),
            "balances": member_balance_sheet(member),
        }
        return Response(
            EventResultSerializer(result, context={"partner": self.partner}).data,
            status=created_or_ok(created),
        )


class PreviewView(PartnerAPIView):
    """What a basket would earn at checkout. Changes nothing, so no Idempotency-Key."""

    grant = Grant.PREVIEW
    idempotent = False

    @extend_schema(
        summary="Preview the points of a basket",
        description="The same rules and campaigns as a posted purchase, evaluated now; nothing is written.",
        request=PreviewInSerializer,
        responses=PreviewSerializer,
    )
    def post(self, request):
        values = self.validated(PreviewInSerializer)
        member = self.member(values.pop("member_number"))
        lines = [(line["sku"], line["category"], line["amount"]) for line in values.pop("lines")]
        book = recent_rule_book()
        preview = purchase_preview(member, **values, lines=lines, book=book)
        return Response(PreviewSerializer(preview_summary(preview, book)).data)


router = SimpleRouter(trailing_slash=True)
router.register("purchases", PurchaseViewSet, basename="purchase")

urlpatterns = [
    *router.urls,
    path("events/", EventView.as_view(), name="event-create"),
    path("preview/", PreviewView.as_view(), name="purchase-preview"),
]
