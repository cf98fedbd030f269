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


class NotCancellable(BenefitError):
    code = "not_cancellable"


class StatusChanged(BenefitError):
    """Someone else moved the object on meanwhile (two operators working the same queue)."""

    code = "status_changed"
