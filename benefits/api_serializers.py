"""The benefits endpoints' bodies and answers (``benefits.api``): what a partner sends and gets back."""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext as _
from rest_framework import serializers

from benefits.models import Benefit, Coupon, CouponRedemption, Redemption, Reward
from members.models import Channel
from members.partners.api.serializers import EnumField, PartnerStoreField, Strict, cny, quantity
from points.api import BalanceSerializer
from tiers.api import TierRefSerializer

# --- output ----------------------------------------------------------------------------------


class BenefitSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = EnumField("BenefitKindEnum", choices=Benefit.Kind.choices)
    value = serializers.DecimalField(
        max_digits=10, decimal_places=2, help_text="CNY off, percent off (12.00 = 12% off), or a multiplier."
    )
    max_discount = serializers.DecimalField(
        max_digits=10, decimal_places=2, allow_null=True, help_text="Percent off: the cap, CNY; null = none."
    )
    min_spend = serializers.DecimalField(
        max_digits=10, decimal_places=2, help_text="CNY, counted on the eligible lines; 0.00 = none."
    )
    conditions = serializers.CharField(help_text="In words, for staff and members.")
    categories = serializers.ListField(
        child=serializers.CharField(),
        help_text="It applies to lines in these (or of `skus`); [] = every line.",
    )
    skus = serializers.ListField(child=serializers.CharField())
    excluded_categories = serializers.ListField(
        child=serializers.CharField(), help_text="Lines in these count for nothing."
    )
    excluded_skus = serializers.ListField(child=serializers.CharField())
    channels = serializers.ListField(
        child=EnumField("SalesChannelEnum", choices=Channel.choices), help_text="[] = every channel."
    )
    weekdays = serializers.ListField(
        child=serializers.IntegerField(), help_text="1 (Monday) to 7 (Sunday); [] = every day."
    )
    hour_from = serializers.IntegerField(allow_null=True, help_text="Local time; null = from midnight.")
    hour_to = serializers.IntegerField(allow_null=True, help_text="Exclusive; null = until midnight.")


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


def money(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=12, decimal_places=2, **kwargs)


class CouponCheckSerializer(serializers.Serializer):
    coupon = CouponSerializer()
    redeemable = serializers.BooleanField()
    reason = serializers.CharField(help_text="Why it cannot be redeemed now (empty if it can).")
    refusal = serializers.CharField(
        help_text="The code redeeming would be refused with (422), e.g. coupon_minimum_spend; empty if none."
    )
    eligible_amount = money(
        allow_null=True, help_text="What of the basket counts for the coupon; null without a basket."
    )
    discount = money(allow_null=True, help_text="What redeeming takes off, CNY; null without a basket.")


class CouponRedemptionSerializer(serializers.Serializer):
    store = serializers.CharField(source="store.code")
    channel = EnumField("SalesChannelEnum", choices=Channel.choices)
    order_number = serializers.CharField()
    amount = money(allow_null=True, help_text="The order's amount as sent; null without a basket.")
    eligible_amount = money(allow_null=True, help_text="What of it counted for the coupon.")
    discount = money(allow_null=True, help_text="What the coupon took off, CNY; null without a basket.")
    redeemed_at = serializers.DateTimeField()
    void_until = serializers.DateTimeField(
        allow_null=True, help_text="Until when it can be undone; null: only if the order is cancelled."
    )
    voided_at = serializers.DateTimeField(allow_null=True, help_text="When it was undone; null if not.")
    void_reason = serializers.CharField(help_text="undo or order_cancelled; empty if not undone.")


class CouponResultSerializer(serializers.Serializer):
    coupon = CouponSerializer()
    redemption = CouponRedemptionSerializer()


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


class BasketLineSerializer(Strict):
    sku = serializers.CharField(max_length=64)
    category = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    quantity = quantity(required=False, default=Decimal(1))
    amount = cny(help_text="What the customer pays for the line, CNY.")


MAX_LINES = 500


class CouponBasketSerializer(CouponCodeSerializer):
    """The coupon and the basket it is for: validate and redeem take the same body."""

    store = PartnerStoreField()
    channel = EnumField(
        "SalesChannelEnum",
        choices=Channel.choices,
        required=False,
        help_text="One of the partner's channels (default: its first).",
    )
    amount = cny(
        required=False,
        help_text="The order's amount, CNY. Needed for a coupon with a minimum spend or line conditions.",
    )
    # max_length: DRF hands it to the ListSerializer; the stubs' Serializer.__init__ lacks it
    lines = BasketLineSerializer(  # type: ignore[call-arg]
        many=True,
        required=False,
        max_length=MAX_LINES,
        help_text="Needed for a coupon limited to some categories or SKUs; they add up to at most `amount`.",
    )
    order_number = serializers.CharField(
        max_length=64,
        required=False,
        default="",
        help_text="Kept on the redemption: a cancelled order undoes it.",
    )

    def validate_channel(self, value: str) -> str:
        if value not in self.context["partner"].channels:
            raise serializers.ValidationError(_("Not one of this partner's channels."))
        return value

    def validate(self, data):
        lines = data.get("lines") or []
        if lines and "amount" not in data:
            raise serializers.ValidationError({"amount": [_("Give the order's amount with its lines.")]})
        listed = sum((line["amount"] for line in lines), Decimal(0))
        if lines and listed > data["amount"]:
            raise serializers.ValidationError(
                {"lines": [_("The lines add up to %(listed)s, more than the amount.") % {"listed": listed}]}
            )
        return data


class CouponVoidSerializer(CouponCodeSerializer):
    """Which redemption to undo, and why."""

    reason = EnumField(
        "CouponVoidReasonEnum",
        choices=CouponRedemption.VoidReason.choices,
        help_text="undo: until the redemption's void_until; order_cancelled: at any time, with order_number.",
    )
    order_number = serializers.CharField(
        max_length=64,
        required=False,
        default="",
        help_text="The order the redemption was for: required with order_cancelled.",
    )
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def validate(self, data):
        if data["reason"] == CouponRedemption.VoidReason.ORDER_CANCELLED and not data["order_number"]:
            raise serializers.ValidationError(
                {"order_number": [_("Name the cancelled order the coupon was redeemed for.")]}
            )
        return data
