"""Business-rule refusals of recorded facts (see ``config.common.errors``)."""

from __future__ import annotations

from config.common.errors import BusinessRuleError


class RefundTooLarge(BusinessRuleError):
    """A refund above what is left to refund of its purchase (``details``: field, left)."""

    code = "too_much"
