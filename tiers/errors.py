"""Business-rule refusals of paid membership, each with a stable ``code`` (API 422, see
``config.common.errors``)."""

from config.common.errors import BusinessRuleError


class NotCancellable(BusinessRuleError):
    """The subscription is over or was ended already."""

    code = "not_cancellable"


class AmountMismatch(BusinessRuleError):
    """A payment notice's amount (or currency) is not the order's: nothing is recorded."""

    code = "amount_mismatch"


class OrderCancelled(BusinessRuleError):
    """A payment arrived for an order the partner cancelled: the payment side must refund it."""

    code = "order_cancelled"


class OrderAlreadyPaid(BusinessRuleError):
    """A second, different payment for an order already paid: the payment side must refund it."""

    code = "order_already_paid"
