"""Business-rule failures of benefits, coupons and rewards, each with a stable ``code`` (API 422)."""

from config.common.errors import BusinessRuleError


class BenefitError(BusinessRuleError):
    code = "benefit_error"


class RewardUnavailable(BenefitError):
    code = "reward_unavailable"


class OutOfStock(BenefitError):
    code = "out_of_stock"


class LimitReached(BenefitError):
    code = "limit_reached"


class TierRequired(BenefitError):
    code = "tier_required"


class CouponNotRedeemable(BenefitError):
    code = "coupon_not_redeemable"


# Why a coupon cannot be used on this basket, here, now (``benefits.baskets``). Each is a
# CouponNotRedeemable, so whoever refuses a coupon refuses these too, with the precise code.


class CouponBasketRequired(CouponNotRedeemable):
    """A minimum spend or conditions on lines, and no basket (or no lines) to check them on."""

    code = "coupon_basket_required"


class CouponMinimumSpend(CouponNotRedeemable):
    """The eligible amount is below the minimum spend (``minimum_spend``, ``eligible_amount``)."""

    code = "coupon_minimum_spend"


class CouponNotEligible(CouponNotRedeemable):
    """None of the basket's lines is one the coupon applies to."""

    code = "coupon_not_eligible"


class CouponWrongStore(CouponNotRedeemable):
    code = "coupon_wrong_store"


class CouponWrongChannel(CouponNotRedeemable):
    code = "coupon_wrong_channel"


class CouponWrongTime(CouponNotRedeemable):
    """Not on this weekday or at this hour."""

    code = "coupon_wrong_time"


# Undoing a redemption


class CouponVoidWindowPassed(BenefitError):
    """The benefit's window for undoing has passed (``void_until``); only a cancelled order undoes it."""

    code = "coupon_void_window_passed"


class CouponOrderMismatch(BenefitError):
    """An undo for a cancelled order that is not the order the redemption was for."""

    code = "coupon_order_mismatch"


class NotCancellable(BenefitError):
    code = "not_cancellable"


class StatusChanged(BenefitError):
    """Someone else moved the object on meanwhile (two operators working the same queue)."""

    code = "status_changed"
