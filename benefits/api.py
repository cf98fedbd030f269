"""Partner API endpoints of the benefits app (wired under /api/v1/ by config/api.py): the
rewards catalogue, redeeming rewards with points (and cancelling), members' coupons, and
validating and redeeming (核销) coupons at the partner's stores."""

from __future__ import annotations

import hashlib

import django_filters
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from benefits.coupons import coupon_redeem, why_not_redeemable
from benefits.models import Benefit, Coupon, Redemption, Reward
from benefits.rewards import redemption_cancel, reward_redeem
from benefits.selectors import member_coupons, partner_coupon, redemptions_by, rewards_on_offer
from members.models import Store
from members.partners.api.errors import not_found
from members.partners.api.filters import IntegerFilter
from members.partners.api.idempotency import HEADER
from members.partners.api.serializers import EnumField, PartnerStoreField, Strict
from members.partners.api.trust import require_visit
from members.partners.api.views import PartnerAPIView, PartnerGenericView, PartnerViewSet
from members.partners.models import Grant, Partner
from points.api import BalanceSerializer, balances_of
from tiers.api import TierRefSerializer

# --- output ----------------------------------------------------------------------------------


class BenefitSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = EnumField("BenefitKindEnum", choices=Benefit.Kind.choices)
    value = serializers.DecimalField(
        max_digits=10, decimal_places=2, help_text="CNY off, percent off (12.00 = 12% off), or a multiplier."
    )
    min_spend = serializers.DecimalField(max_digits=10, decimal_places=2, help_text="CNY; 0.00 = none.")
    conditions = serializers.CharField()


class RewardBenefitSerializer(BenefitSerializer):
    valid_days = serializers.IntegerField(help_text="How long the issued coupon can be used.")


class RewardSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = EnumField("RewardKindEnum", choices=Reward.Kind.choices)
    points_price = serializers.IntegerField()
    stock = serializers.IntegerField(allow_null=True, help_text="Units left; null = unlimited.")
    per_member_limit = serializers.IntegerField(allow_null=True, help_text="Null = no limit.")
    min_tier = TierRefSerializer(allow_null=True, help_text="Members below this tier cannot redeem it.")
    benefit = RewardBenefitSerializer(allow_null=True, help_text="The coupon a coupon or cash reward issues.")
    valid_from = serializers.DateTimeField(allow_null=True)
    valid_until = serializers.DateTimeField(allow_null=True)


class CouponSerializer(serializers.Serializer):
    code = serializers.CharField()
    benefit = BenefitSerializer()
    status = EnumField("CouponStatusEnum", choices=Coupon.Status.choices)
    origin = EnumField("CouponOriginEnum", choices=Coupon.Origin.choices)
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField()
    redeemed_at = serializers.DateTimeField(allow_null=True)
    redeemed_store = serializers.CharField(source="redeemed_store.code", allow_null=True)


class RewardRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = EnumField("RewardKindEnum", choices=Reward.Kind.choices)


class RedemptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    member_number = serializers.CharField(source="member.member_number")
    reward = RewardRefSerializer()
    points = serializers.IntegerField(help_text="Points paid.")
    status = EnumField("RedemptionStatusEnum", choices=Redemption.Status.choices)
    coupon = CouponSerializer(allow_null=True, help_text="The coupon issued; null for a physical gift.")
    ship_to = serializers.CharField()
    tracking_number = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class RedemptionResultSerializer(serializers.Serializer):
    redemption = RedemptionSerializer()
    balances = BalanceSerializer(many=True, help_text="The member's balances afterwards.")


class CouponCheckSerializer(serializers.Serializer):
    coupon = CouponSerializer()
    redeemable = serializers.BooleanField()
    reason = serializers.CharField(help_text="Why it cannot be redeemed now (empty if it can).")


class CouponResultSerializer(serializers.Serializer):
    coupon = CouponSerializer()


# --- input -----------------------------------------------------------------------------------


class RedeemSerializer(Strict):
    member_number = serializers.CharField(max_length=16)
    ship_to = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default="", help_text="For physical gifts."
    )


class CancelSerializer(Strict):
    reason = serializers.CharField(max_length=200, help_text="Why it is cancelled (kept on the record).")


class CouponCodeSerializer(Strict):
    code = serializers.CharField(max_length=40, help_text="As typed: spaces, dashes and case are ignored.")
    store = PartnerStoreField()


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
        require_visit(self.partner, member.pk)
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


class _CouponAtStore(PartnerAPIView):
    def coupon_and_store(self, request) -> tuple[Coupon, Store]:
        """The coupon (404 unless it is one of this partner's members') and the partner's store (400)."""
        data = self.validated(CouponCodeSerializer)  # the store is checked first: 400
        coupon = partner_coupon(self.partner, data["code"])
        if coupon is None:
            raise not_found()
        return coupon, data["store"]


class CouponValidateView(_CouponAtStore):
    grant = Grant.COUPONS_READ
    idempotent = False  # changes nothing

    @extend_schema(
        summary="Check whether a coupon can be redeemed",
        description="Changes nothing. A code that is not one of this partner's members' is 404.",
        request=CouponCodeSerializer,
        responses=CouponCheckSerializer,
    )
    def post(self, request):
        coupon, _store = self.coupon_and_store(request)
        reason = why_not_redeemable(coupon, timezone.now())
        return Response({"coupon": CouponSerializer(coupon).data, "redeemable": not reason, "reason": reason})


class CouponRedeemView(_CouponAtStore):
    grant = Grant.COUPONS_REDEEM

    @extend_schema(
        summary="Redeem (核销) a coupon at one of this partner's stores",
        description=(
            "Once only: a coupon already used, expired or voided is 422 coupon_not_redeemable. "
            "A third-party partner redeems only during the visit a member code opened "
            "(POST /members/link/): otherwise 403 member_code_required."
        ),
        request=CouponCodeSerializer,
        responses=CouponResultSerializer,
    )
    def post(self, request):
        coupon, store = self.coupon_and_store(request)
        require_visit(self.partner, coupon.member_id)
        coupon = coupon_redeem(code=coupon.code, store=store, user=self.partner.user)
        return Response({"coupon": CouponSerializer(coupon).data})


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
]
