"""Business-rule failures of the ledger. Each has a stable ``code`` for the API (422/409)."""

from __future__ import annotations

from config.common.errors import BusinessRuleError


class PointsError(BusinessRuleError):
    code = "points_error"


class InsufficientPoints(PointsError):
    code = "insufficient_points"


class NothingToReverse(PointsError):
    code = "nothing_to_reverse"


class NotRedeemable(PointsError):
    code = "not_redeemable"


class ApprovalError(PointsError):
    code = "approval_error"
