"""Business-rule failures of the ledger. Each has a stable ``code`` for the API (422/409)."""

from __future__ import annotations


class PointsError(Exception):
    code = "points_error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InsufficientPoints(PointsError):
    code = "insufficient_points"


class NothingToReverse(PointsError):
    code = "nothing_to_reverse"


class NotRedeemable(PointsError):
    code = "not_redeemable"


class IdempotencyConflict(PointsError):
    """The key was used before for a different request."""

    code = "idempotency_conflict"


class ApprovalError(PointsError):
    code = "approval_error"
