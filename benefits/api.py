"""Partner API endpoints of the benefits app (wired under /api/v1/ by config/api.py): the
rewards catalogue, redeeming rewards with points (and cancelling), members' coupons, and
validating and redeeming (核销) coupons against a basket at the partner's stores, and undoing
(voiding) a redemption."""

from __future__ import annotations

import hashlib
from typing import Any

import django_filters
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from benefits.api_serializers import (
    CancelSerializer,
    CouponBasketSerializer,
    CouponCheckSerializer,
    CouponRedemptionSerializer,
    CouponResultSerializer,
    CouponSerializer,
    CouponVoidSerializer,
    RedeemSerializer,
    RedemptionResultSerializer,
    RedemptionSerializer,
    RewardSerializer,
)
from benefits.baskets import coupon_terms
from benefits.coupons import coupon_miss_record, coupon_redeem, coupon_redemption_void, why_not_redeemable
from benefits.errors import CouponNotRedeemable
from benefits.models import Coupon, Redemption, Reward
from benefits.rewards import redemption_cancel, reward_redeem
from benefits.selectors import (
    member_coupons,
    partner_coupon,
    partner_coupon_redemption,
    redemptions_by,
    rewards_on_offer,
)
from members.models import Channel, Store
from members.partners.api.errors import not_found
from members.partners.api.filters import IntegerFilter
from members.partners.api.idempotency import HEADER
from members.partners.api.trust import require_visit
from members.partners.api.views import PartnerAPIView, PartnerGenericView, PartnerViewSet
from members.partners.models import Grant, Partner
from members.purchases.baskets import Basket, BasketLine
from points.api import balances_of

# --- filters ---------------------------------------------------------------------------------


class RewardFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Reward.Kind.choices)
    max_points = IntegerFilter(field_name="points_price", lookup_expr="lte")

    class Meta:
        model = Reward
        fields = ["kind"]


class RedemptionFilter(django_filters.FilterSet):
    member_number = django_filters.CharFilter(field_name="member__member_number")
    status = django_filters.ChoiceFilter(choices=Redemption.Status.choices)

    class Meta:
        model = Redemption
        fields = ["status"]


class CouponFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Coupon.Status.choices)

    class Meta:
        model = Coupon
        fields = ["status"]


# --- views -----------------------------------------------------------------------------------


def service_key(partner: Partner, key: str) -> str:
    """The request's Idempotency-Key as the redemption's own key: per partner, at most 90 chars."""
    text = f"api:{partner.pk}:{key}"
    if len(text) <= 90:
        return text
    return f"api:{partner.pk}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def redemption_result(redemption: Redemption) -> dict:
    return {
        "redemption": RedemptionSerializer(redemption).data,
        "balances": balances_of(redemption.member),
    }


class RewardViewSet(PartnerViewSet):
    """The catalogue on offer, and buying a reward with a member's points."""

    serializer_class = RewardSerializer
    filterset_class = RewardFilter
    grants = {"GET": Grant.REWARDS_READ, "POST": Grant.REWARDS_REDEEM}
    queryset = Reward.objects.none()  # for the schema; requests use scoped_queryset()

    def scoped_queryset(self):
        return rewards_on_offer()

    @extend_schema(summary="The rewards on offer", responses=RewardSerializer(many=True))
    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(summary="One reward on offer", responses=RewardSerializer)
    def retrieve(self, request, pk: int):
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        summary="Redeem a reward with a member's points",
        description=(
            "Spends the price, takes one unit of stock and issues the coupon (a physical gift "
            "waits for fulfilment). 422 with code insufficient_points, out_of_stock, limit_reached, "
            "tier_required or reward_unavailable when a rule refuses it. A third-party partner "
            "spends only during the visit a member code opened (POST /members/link/): otherwise "
            "403 member_code_required."
        ),
        request=RedeemSerializer,
        responses={201: RedemptionResultSerializer},
    )
    def redeem(self, request, pk: int):
        data = self.validated(RedeemSerializer)
        member = self.member(data["member_number"])
        require_visit(self.partner, member)
        reward = get_object_or_404(Reward, pk=pk)
        redemption = reward_redeem(
            member=member,
            reward=reward,
            idempotency_key=service_key(self.partner, request.headers[HEADER]),
            actor=self.partner.user,
            ship_to=data["ship_to"],
        )
        redemption = redemptions_by(self.partner.user).get(pk=redemption.pk)
        return Response(redemption_result(redemption), status=status.HTTP_201_CREATED)


class RedemptionViewSet(PartnerViewSet):
    """Redemptions this partner made; other partners' are 404, as if absent."""

    serializer_class = RedemptionSerializer
    filterset_class = RedemptionFilter
    grants = {"GET": Grant.REWARDS_READ, "POST": Grant.REWARDS_REDEEM}
    queryset = Redemption.objects.none()  # for the schema; requests use scoped_queryset()

    def scoped_queryset(self):
        return redemptions_by(self.partner.user)

    @extend_schema(summary="This partner's redemptions", responses=RedemptionSerializer(many=True))
    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(summary="One redemption", responses=RedemptionSerializer)
    def retrieve(self, request, pk: int):
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        summary="Cancel a redemption and refund its points",
        description=(
            "Refunds the points (with the expiry dates they had), restocks and voids the unused "
            "coupon. 422 not_cancellable once the coupon was used or the gift shipped."
        ),
        request=CancelSerializer,
        responses=RedemptionResultSerializer,
    )
    def cancel(self, request, pk: int):
        redemption = get_object_or_404(self.get_queryset(), pk=pk)
        data = self.validated(CancelSerializer)
        redemption_cancel(redemption, actor=self.partner.user, reason=data["reason"])
        return Response(redemption_result(self.get_queryset().get(pk=redemption.pk)))


class MemberCouponsView(PartnerGenericView):
    """A member's coupons, newest first."""

    grant = Grant.COUPONS_READ
    serializer_class = CouponSerializer
    filterset_class = CouponFilter
    queryset = Coupon.objects.none()  # for the schema; requests use scoped_queryset()

    def scoped_queryset(self):
        return member_coupons(self.member(self.kwargs["member_number"]))

    @extend_schema(summary="A member's coupons", responses=CouponSerializer(many=True))
    def get(self, request, member_number: str):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class _CouponLookup(PartnerAPIView):
    def missed(self, code: str, store: Store | None = None) -> None:
        """Count a code that is not one of this partner's members' against guessing, even though
        the request is refused (and rolled back)."""
        partner = self.partner
        self.afterwards(lambda: coupon_miss_record(code, partner=partner, store=store))


class _CouponAtStore(_CouponLookup):
    def coupon_and_basket(self) -> tuple[Coupon, Store, str, Basket]:
        """The coupon (404 unless it is one of this partner's members'), the partner's store and
        channel (400), and the basket."""
        data = self.validated(CouponBasketSerializer)  # the store is checked first: 400
        coupon = partner_coupon(self.partner, data["code"])
        if coupon is None:
            self.missed(data["code"], data["store"])
            raise not_found()
        channel = data.get("channel") or (self.partner.channels or [Channel.STORE])[0]
        lines = [
            BasketLine(
                sku=line["sku"], category=line["category"], quantity=line["quantity"], amount=line["amount"]
            )
            for line in data.get("lines") or []
        ]
        basket = Basket(amount=data.get("amount"), lines=lines, order_number=data["order_number"])
        return coupon, data["store"], channel, basket


class CouponValidateView(_CouponAtStore):
    grant = Grant.COUPONS_READ
    idempotent = False  # changes nothing

    @extend_schema(
        summary="Check whether a coupon can be redeemed on a basket, and what it takes off",
        description=(
            "Changes nothing; the same body as redeem. `refusal` is the code redeeming would be "
            "refused with. A code that is not one of this partner's members' is 404."
        ),
        request=CouponBasketSerializer,
        responses=CouponCheckSerializer,
    )
    def post(self, request):
        coupon, store, channel, basket = self.coupon_and_basket()
        now = timezone.now()
        answer: dict[str, Any] = {"coupon": coupon, "eligible_amount": None, "discount": None}
        reason, refusal = why_not_redeemable(coupon, now), ""
        if reason:
            refusal = CouponNotRedeemable.code
        else:
            try:
                terms = coupon_terms(coupon.benefit, store=store, channel=channel, basket=basket, at=now)
            except CouponNotRedeemable as refused:
                reason, refusal = refused.message, refused.code
            else:
                answer |= {"eligible_amount": terms.eligible_amount, "discount": terms.discount}
        return Response(
            CouponCheckSerializer(
                {**answer, "redeemable": not reason, "reason": reason, "refusal": refusal}
            ).data
        )


class CouponRedeemView(_CouponAtStore):
    grant = Grant.COUPONS_REDEEM

    @extend_schema(
        summary="Redeem (核销) a coupon on a basket at one of this partner's stores",
        description=(
            "Once only: a coupon already used, expired or voided is 422 coupon_not_redeemable; a "
            "basket it does not fit is 422 with the reason's code (coupon_minimum_spend, "
            "coupon_not_eligible, coupon_basket_required, coupon_wrong_store, coupon_wrong_channel, "
            "coupon_wrong_time). A third-party partner redeems only during the visit a member code "
            "opened (POST /members/link/): otherwise 403 member_code_required."
        ),
        request=CouponBasketSerializer,
        responses=CouponResultSerializer,
    )
    def post(self, request):
        coupon, store, channel, basket = self.coupon_and_basket()
        require_visit(self.partner, coupon.member)  # read with the coupon
        redemption = coupon_redeem(
            code=coupon.code, store=store, user=self.partner.user, basket=basket, channel=channel
        )
        return Response(
            {
                "coupon": CouponSerializer(redemption.coupon).data,
                "redemption": CouponRedemptionSerializer(redemption).data,
            }
        )


class CouponVoidView(_CouponLookup):
    grant = Grant.COUPONS_REDEEM

    @extend_schema(
        summary="Undo (void) a redemption this partner made: the coupon can be used again",
        description=(
            "reason undo: until the redemption's void_until (the benefit's window, 30 minutes by "
            "default), else 422 coupon_void_window_passed. reason order_cancelled: at any time, "
            "with the order_number the redemption was made for (else 422 coupon_order_mismatch). "
            "The coupon goes back to issued, or to expired if its validity ended meanwhile. Undoing "
            "an undone redemption answers it as it is. Only the partner that redeemed the coupon "
            "may undo it: any other gets 404. No visit needed."
        ),
        request=CouponVoidSerializer,
        responses=CouponResultSerializer,
    )
    def post(self, request):
        data = self.validated(CouponVoidSerializer)
        coupon = partner_coupon(self.partner, data["code"])
        if coupon is None:
            self.missed(data["code"])
            raise not_found()
        redemption = partner_coupon_redemption(self.partner, coupon, data["order_number"])
        if redemption is None:
            raise not_found()
        redemption = coupon_redemption_void(
            redemption,
            actor=self.partner.user,
            reason=data["reason"],
            order_number=data["order_number"],
            note=data["note"],
        )
        return Response(
            {
                "coupon": CouponSerializer(redemption.coupon).data,
                "redemption": CouponRedemptionSerializer(redemption).data,
            }
        )


urlpatterns = [
    path("rewards/", RewardViewSet.as_view({"get": "list"}), name="api-reward-list"),
    path("rewards/<int:pk>/", RewardViewSet.as_view({"get": "retrieve"}), name="api-reward-detail"),
    path("rewards/<int:pk>/redeem/", RewardViewSet.as_view({"post": "redeem"}), name="api-reward-redeem"),
    path("redemptions/", RedemptionViewSet.as_view({"get": "list"}), name="api-redemption-list"),
    path(
        "redemptions/<int:pk>/", RedemptionViewSet.as_view({"get": "retrieve"}), name="api-redemption-detail"
    ),
    path(
        "redemptions/<int:pk>/cancel/",
        RedemptionViewSet.as_view({"post": "cancel"}),
        name="api-redemption-cancel",
    ),
    path("members/<str:member_number>/coupons/", MemberCouponsView.as_view(), name="api-member-coupons"),
    path("coupons/validate/", CouponValidateView.as_view(), name="api-coupon-validate"),
    path("coupons/redeem/", CouponRedeemView.as_view(), name="api-coupon-redeem"),
    path("coupons/void/", CouponVoidView.as_view(), name="api-coupon-void"),
]
