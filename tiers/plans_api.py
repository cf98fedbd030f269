"""Selling paid plans through the API (wired under /api/v1/ by config/api.py): the plans on sale,
orders the brand's app makes for a member, cancelling them, and the payment notice the brand's
payment system sends (signed, not a partner endpoint: docs/api.md, "Selling a paid plan")."""

from __future__ import annotations

import re

from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from members.partners.api.errors import APIError, not_found
from members.partners.api.serializers import EnumField, Moment, Strict, cny
from members.partners.api.views import PartnerAPIView, StrictJSONParser
from members.partners.models import Grant
from tiers.api import TierRefSerializer
from tiers.models import Plan, PlanOrder, RefundPolicy, Subscription
from tiers.orders import (
    SIGNATURE_HEADER,
    notice_signature_valid,
    order_status,
    plan_order_cancel,
    plan_order_create,
    plan_payment_record,
)
from tiers.subscriptions import refund_quote

ORDER_NUMBER = re.compile(r"PO[0-9]{18}")

# --- output ----------------------------------------------------------------------------------


class PlanSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="As in `POST /plans/{code}/orders/`.")
    name = serializers.CharField()
    price = serializers.DecimalField(max_digits=10, decimal_places=2, help_text="CNY for one period.")
    currency = serializers.CharField(default="CNY")
    duration_months = serializers.IntegerField(help_text="The length of one paid period.")
    tier = TierRefSerializer(allow_null=True, help_text="The tier members on the plan hold at least.")
    auto_renew = serializers.BooleanField(help_text="Whether the member is told it renews each period.")
    refund_policy = EnumField(
        "RefundPolicyEnum",
        choices=RefundPolicy.choices,
        help_text=(
            "What ending a period early gives back: nothing, the unused days, or the whole months not begun."
        ),
    )
    cancellation_fee = serializers.DecimalField(
        max_digits=10, decimal_places=2, help_text="CNY kept from a refund."
    )


class SubscriptionOutSerializer(serializers.Serializer):
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField(help_text="Earlier than `paid_until` when it was ended early.")
    paid_until = serializers.DateTimeField(help_text="The end the payment paid for.")
    status = EnumField("SubscriptionStatusEnum", choices=Subscription.Status.choices)
    auto_renew = serializers.BooleanField()
    cancelled_at = serializers.DateTimeField(
        allow_null=True, help_text="When renewal was stopped or it was ended."
    )
    refund_amount = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        allow_null=True,
        help_text="CNY owed back for a period ended early (the payment system pays it out); null otherwise.",
    )
    refund_if_cancelled_now = serializers.SerializerMethodField(
        help_text="CNY that ending it now (`immediately`) would give back, renewals paid after it included; "
        "null once it cannot be ended."
    )

    def get_refund_if_cancelled_now(self, subscription: Subscription) -> str | None:
        quote = refund_quote(subscription)
        return None if quote is None else f"{quote:.2f}"


class OrderSerializer(serializers.Serializer):
    order_number = serializers.CharField()
    member_number = serializers.CharField(source="member.member_number")
    plan = TierRefSerializer()
    amount = serializers.DecimalField(max_digits=10, decimal_places=2, help_text="CNY to pay.")
    currency = serializers.CharField()
    status = serializers.SerializerMethodField(
        help_text=(
            "`pending` (waiting for the payment notice), `paid`, `cancelled`, `expired` (not paid in time)."
        )
    )
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(help_text="Pay before then (the payment system's time limit).")
    paid_at = serializers.DateTimeField(allow_null=True)
    payment_ref = serializers.CharField(allow_null=True, help_text="The payment system's transaction id.")
    subscription = SubscriptionOutSerializer(allow_null=True, help_text="The paid period; null until paid.")

    @extend_schema_field(EnumField("PlanOrderStatusEnum", choices=PlanOrder.Status.choices))
    def get_status(self, order: PlanOrder) -> str:
        return order_status(order)


# --- input -----------------------------------------------------------------------------------


class OrderCreateSerializer(Strict):
    member_number = serializers.CharField(max_length=16, help_text="The member the plan is for.")


class OrderCancelSerializer(Strict):
    reason = serializers.CharField(max_length=200, help_text="Why (kept on the record).")
    immediately = serializers.BooleanField(
        default=False,
        help_text=(
            "For a paid order: false stops renewal (the period runs to its end); true ends it now "
            "with the refund the plan's terms give (`subscription.refund_amount`)."
        ),
    )


class NoticeSerializer(serializers.Serializer):
    """What the payment system reports. Other fields are ignored (the signature covers them)."""

    order_number = serializers.CharField(max_length=32)
    payment_ref = serializers.CharField(max_length=64)
    amount = cny()
    currency = serializers.CharField(max_length=3, default="CNY")
    paid_at = Moment()


# --- views -----------------------------------------------------------------------------------


class PlansView(PartnerAPIView):
    """The plans on sale, cheapest first."""

    grant = Grant.TIERS_READ

    @extend_schema(summary="The paid plans on sale", responses=PlanSerializer(many=True))
    def get(self, request):
        plans = Plan.objects.filter(active=True).select_related("tier").order_by("price", "id")
        return Response(PlanSerializer(plans, many=True).data)


def order_answer(order: PlanOrder) -> dict:
    order = PlanOrder.objects.select_related("member", "plan", "subscription").get(pk=order.pk)
    return OrderSerializer(order).data


class PlanOrderCreateView(PartnerAPIView):
    grant = Grant.PLANS_SELL

    @extend_schema(
        summary="Order a plan for a member",
        description=(
            "A pending order at the plan's price, to be paid within `expires_at` in the brand's "
            "payment system, which then sends the payment notice. A plan not on sale is 404."
        ),
        request=OrderCreateSerializer,
        responses={201: OrderSerializer},
    )
    def post(self, request, code: str):
        data = self.validated(OrderCreateSerializer)
        member = self.member(data["member_number"])
        plan = Plan.objects.filter(code=code, active=True).first()
        if plan is None:
            raise not_found()
        order = plan_order_create(partner=self.partner, member=member, plan=plan)
        return Response(order_answer(order), status=status.HTTP_201_CREATED)


class _OrderOfPartner(PartnerAPIView):
    grant = Grant.PLANS_SELL

    def order(self, order_number: str) -> PlanOrder:
        """One of this partner's orders, else 404 (other partners' look the same as none)."""
        order = None
        if ORDER_NUMBER.fullmatch(order_number):
            order = PlanOrder.objects.filter(partner=self.partner, order_number=order_number).first()
        if order is None:
            raise not_found()
        return order


class PlanOrderView(_OrderOfPartner):
    @extend_schema(summary="An order and its paid period", responses=OrderSerializer)
    def get(self, request, order_number: str):
        return Response(order_answer(self.order(order_number)))


class PlanOrderCancelView(_OrderOfPartner):
    @extend_schema(
        summary="Cancel an order, or the period it paid",
        description=(
            "A pending or expired order is cancelled (a payment arriving for it later is refused "
            "with order_cancelled). A paid one cancels its period: renewal stops, or with "
            "`immediately` it ends now with its refund. 422 invalid_transition for a cancelled "
            "order, not_cancellable for a period over or ended already."
        ),
        request=OrderCancelSerializer,
        responses=OrderSerializer,
    )
    def post(self, request, order_number: str):
        order = self.order(order_number)
        data = self.validated(OrderCancelSerializer)
        order = plan_order_cancel(
            order, actor=self.partner.user, reason=data["reason"], immediately=data["immediately"]
        )
        return Response(order_answer(order))


class PaymentNoticeView(APIView):
    """The brand's payment system reports a payment. Signed with the shared secret instead of a
    partner key: the payment system is no partner. Not in the partner schema (docs/api.md)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    parser_classes = [StrictJSONParser]
    http_method_names = ["post"]

    @extend_schema(exclude=True)
    def post(self, request):
        if not notice_signature_valid(request.body, request.headers.get(SIGNATURE_HEADER, "")):
            raise APIError(
                _("The signature is missing or wrong, or its timestamp is more than 5 minutes off."),
                code="signature_invalid",
                status_code=401,
            )
        data = NoticeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            order = plan_payment_record(
                order_number=values["order_number"],
                payment_ref=values["payment_ref"],
                amount=values["amount"],
                currency=values["currency"],
                paid_at=values["paid_at"],
            )
        except PlanOrder.DoesNotExist:
            raise not_found() from None
        subscription, paid_at = order.subscription, order.paid_at
        assert subscription is not None and paid_at is not None  # a paid order has its period
        return Response(
            {
                "order_number": order.order_number,
                "status": order.status,
                "payment_ref": order.payment_ref,
                "amount": f"{order.amount:.2f}",
                "currency": order.currency,
                "paid_at": serializers.DateTimeField().to_representation(paid_at),
                "starts_at": serializers.DateTimeField().to_representation(subscription.starts_at),
                "paid_until": serializers.DateTimeField().to_representation(subscription.paid_until),
            }
        )


urlpatterns = [
    path("plans/", PlansView.as_view(), name="api-plans"),
    path("plans/<slug:code>/orders/", PlanOrderCreateView.as_view(), name="api-plan-order-create"),
    path("plan-orders/<str:order_number>/", PlanOrderView.as_view(), name="api-plan-order"),
    path(
        "plan-orders/<str:order_number>/cancel/", PlanOrderCancelView.as_view(), name="api-plan-order-cancel"
    ),
    path("payments/notify/", PaymentNoticeView.as_view(), name="api-payment-notify"),
]
