"""Partner API of points as cash at the till (wired under /api/v1/ by config/api.py): what a
basket may take of a member's points (quote), holding them while the customer pays, reading and
releasing a hold. The hold is captured by ``POST /purchases/`` with ``points_hold``."""

from __future__ import annotations

import hashlib
from decimal import Decimal

from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from members.models import Channel
from members.partners.api.idempotency import HEADER
from members.partners.api.serializers import EnumField, PartnerStoreField, Strict, WholeNumber, cny
from members.partners.api.trust import require_visit
from members.partners.api.views import PartnerAPIView
from members.partners.models import Grant, Partner
from members.purchases.baskets import Basket, BasketLine
from points.api import BalanceSerializer, balances_of
from points.cash.models import Hold
from points.cash.selectors import holds_given_back, member_quote, partner_holds
from points.cash.services import hold_create, hold_release
from points.services.common import point_type_of

MAX_LINES = 500

# --- input -----------------------------------------------------------------------------------


class TillLineSerializer(Strict):
    sku = serializers.CharField(max_length=64)
    category = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    amount = cny(help_text="What the line costs, CNY.")


class BasketSerializer(Strict):
    """The basket at the till: what the customer is about to pay, and where."""

    point_type = serializers.SlugField(
        max_length=32, required=False, default="points", help_text="A redeemable point type's code."
    )
    channel = EnumField(
        "SalesChannelEnum", choices=Channel.choices, help_text="One of the partner's channels."
    )
    store = PartnerStoreField(required=False, allow_null=True, default=None)
    amount = cny(help_text="The order's total to pay, CNY (before points).")
    # max_length: DRF hands it to the ListSerializer; the stubs' Serializer.__init__ lacks it
    lines = TillLineSerializer(  # type: ignore[call-arg]
        many=True,
        required=False,
        default=list,
        max_length=MAX_LINES,
        help_text="Lines in excluded categories or SKUs cannot be paid with points; may list less than "
        "the amount, never more.",
    )

    def validate_channel(self, value: str) -> str:
        partner: Partner = self.context["partner"]
        if value not in partner.channels:
            raise serializers.ValidationError(_("Not one of this partner's channels."))
        return value

    def validate(self, data):
        listed = sum((line["amount"] for line in data["lines"]), Decimal(0))
        if listed > data["amount"]:
            raise serializers.ValidationError(
                {"lines": [_("The lines add up to %(listed)s, more than the amount.") % {"listed": listed}]}
            )
        return data


class HoldInSerializer(BasketSerializer):
    """Points to hold for the basket, until the rule's hold time has passed."""

    member_number = serializers.CharField(max_length=16)
    points = WholeNumber(
        min_value=1, max_value=2_000_000_000, help_text="A whole number of steps, at most the quote's."
    )
    reference = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="", help_text="The till's own sale number."
    )


class PartnerHoldField(WholeNumber):
    """A hold's id naming one of the partner's (``context["partner"]``) holds: the Hold."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        kwargs.setdefault(
            "help_text",
            "The id of this partner's hold (`POST /points/holds/`) that pays `points_amount`: captured "
            "with the purchase, in the same transaction.",
        )
        super().__init__(**kwargs)

    def run_validation(self, data=serializers.empty):
        pk = super().run_validation(data)  # the number's own checks first
        if pk is None:
            return None
        hold = partner_holds(self.context["partner"]).filter(pk=pk).first()
        if hold is None:
            raise serializers.ValidationError(_("Not one of this partner's holds."))
        return hold


def basket_of(data: dict) -> Basket:
    store = data["store"]
    return Basket(
        amount=data["amount"],
        channel=data["channel"],
        store_id=store.pk if store else None,
        lines=tuple(BasketLine(line["sku"], line["amount"], line["category"]) for line in data["lines"]),
    )


# --- output ----------------------------------------------------------------------------------


def money(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=12, decimal_places=2, **kwargs)


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="`cash_unavailable`, `member_closed`, `below_min_balance`, `excluded_lines`, `max_share` "
        "or `balance`."
    )
    message = serializers.CharField(help_text="In the request's language.")


class QuoteSerializer(serializers.Serializer):
    """What the basket may take of the member's points now; nothing is held."""

    member_number = serializers.CharField()
    point_type = serializers.CharField(source="quote.point_type.code")
    available = serializers.IntegerField(source="quote.available", help_text="Spendable points now.")
    max_points = serializers.IntegerField(
        source="quote.max_points", help_text="The most the basket may take (0: none)."
    )
    max_value = money(source="quote.value", help_text="CNY that `max_points` pay.")
    step_points = serializers.IntegerField(
        source="quote.step_points", help_text="Points are held in multiples of this (0: none)."
    )
    step_value = money(source="quote.step_value", help_text="CNY of one step.")
    eligible_amount = money(source="quote.eligible_amount", help_text="The amount less excluded lines.")
    hold_minutes = serializers.IntegerField(source="quote.hold_minutes", help_text="How long a hold lasts.")
    reasons = ReasonSerializer(source="quote.reasons", many=True, help_text="What limits `max_points`.")


class HoldSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="`points_hold` in `POST /purchases/`.")
    member_number = serializers.CharField(source="member.member_number")
    point_type = serializers.CharField(source="point_type.code")
    points = serializers.IntegerField()
    value = money(help_text="CNY the points pay: the purchase's `points_amount`.")
    status = EnumField("HoldStatusEnum", choices=Hold.Status.choices)
    reference = serializers.CharField()
    store = serializers.CharField(source="store.code", allow_null=True)
    channel = EnumField("SalesChannelEnum", choices=Channel.choices)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(help_text="Not captured by then: released by the job.")
    captured_at = serializers.DateTimeField(allow_null=True)
    released_at = serializers.DateTimeField(allow_null=True)
    release_reason = EnumField(
        "HoldReleaseReasonEnum",
        choices=Hold.Why.choices,
        source="release_why",
        allow_null=True,
        help_text="Null unless released.",
    )
    order_number = serializers.CharField(
        source="purchase.order_number", allow_null=True, help_text="The purchase it paid."
    )
    points_given_back = serializers.IntegerField(help_text="Given back by refunds of that purchase.")


class HoldResultSerializer(serializers.Serializer):
    hold = HoldSerializer()
    balances = BalanceSerializer(many=True, help_text="The member's balances afterwards.")


def hold_answer(hold: Hold) -> dict:
    hold.points_given_back = holds_given_back([hold]).get(hold.pk, 0)  # type: ignore[attr-defined]
    return {"hold": HoldSerializer(hold).data, "balances": balances_of(hold.member)}


# --- views -----------------------------------------------------------------------------------


class QuoteView(PartnerAPIView):
    """How many of a member's points a basket may take, under the brand's rules. Changes nothing,
    so no Idempotency-Key."""

    grant = Grant.POINTS_PAY
    idempotent = False

    @extend_schema(
        summary="Quote points as cash for a basket",
        description=(
            "The most points the basket may take now and what they pay, with the reasons that "
            "limit them (minimum balance, excluded lines, share of the order, balance); 0 when "
            "points cannot pay here. Nothing is held: a hold may take at most this."
        ),
        request=BasketSerializer,
        responses=QuoteSerializer,
    )
    def post(self, request, member_number: str):
        data = self.validated(BasketSerializer)
        member = self.member(member_number)
        quote = member_quote(member, point_type_of(data["point_type"]), basket_of(data))
        return Response(QuoteSerializer({"member_number": member.member_number, "quote": quote}).data)


def service_key(partner: Partner, key: str) -> str:
    """The request's Idempotency-Key as the hold's own key: per partner, at most 100 characters."""
    text = f"api:{partner.pk}:{key}"
    if len(text) <= 100:
        return text
    return f"api:{partner.pk}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


class _PartnerHolds(PartnerAPIView):
    grant = Grant.POINTS_PAY

    def scoped_queryset(self):
        return partner_holds(self.partner).select_related("member", "point_type", "store", "purchase")


class HoldsView(_PartnerHolds):
    @extend_schema(
        summary="Hold a member's points while the customer pays",
        description=(
            "Takes the points out of the member's spendable balance until `expires_at`; capture "
            "them with `POST /purchases/` and `points_hold`, or release them. 422 "
            "`cash_unavailable`, `below_min_balance`, `points_step`, `over_cash_limit`, "
            "`insufficient_points` or `member_closed` when the rule, the balance or the member's "
            "status refuses it (nothing held). A "
            "third-party partner holds only during the visit a member code opened: otherwise 403 "
            "`member_code_required`."
        ),
        request=HoldInSerializer,
        responses={201: HoldResultSerializer},
    )
    def post(self, request):
        data = self.validated(HoldInSerializer)
        member = self.member(data["member_number"])
        require_visit(self.partner, member)
        hold = hold_create(
            member=member,
            points=data["points"],
            basket=basket_of(data),
            point_type=point_type_of(data["point_type"]),
            partner=self.partner,
            reference=data["reference"],
            idempotency_key=service_key(self.partner, request.headers[HEADER]),
            actor=self.partner.user,
        )
        return Response(hold_answer(self.scoped_queryset().get(pk=hold.pk)), status=status.HTTP_201_CREATED)


class HoldView(_PartnerHolds):
    @extend_schema(summary="One of this partner's holds", responses=HoldResultSerializer)
    def get(self, request, pk: int):
        return Response(hold_answer(get_object_or_404(self.scoped_queryset(), pk=pk)))


class HoldReleaseView(_PartnerHolds):
    @extend_schema(
        summary="Release a hold: the points go back",
        description=(
            "The customer paid otherwise or walked away: the points go back to the member with the "
            "expiry dates they had. Releasing a released hold answers it again; a captured one is "
            "422 `hold_closed` (refund its purchase instead)."
        ),
        request=None,
        responses=HoldResultSerializer,
    )
    def post(self, request, pk: int):
        hold = get_object_or_404(self.scoped_queryset(), pk=pk)
        hold_release(hold=hold, why=Hold.Why.TILL, actor=self.partner.user)
        return Response(hold_answer(self.scoped_queryset().get(pk=pk)))


urlpatterns = [
    path("members/<str:member_number>/points/quote/", QuoteView.as_view(), name="api-points-quote"),
    path("points/holds/", HoldsView.as_view(), name="api-points-holds"),
    path("points/holds/<int:pk>/", HoldView.as_view(), name="api-points-hold"),
    path("points/holds/<int:pk>/release/", HoldReleaseView.as_view(), name="api-points-hold-release"),
]
