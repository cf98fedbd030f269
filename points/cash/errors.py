"""Business-rule refusals of points as cash, each with a stable ``code`` for the API (422)."""

from __future__ import annotations

from points.errors import PointsError


class CashUnavailable(PointsError):
    """No active rule lets this point type pay here (channel, store), or it has no value."""

    code = "cash_unavailable"


class BelowMinimumBalance(PointsError):
    code = "below_min_balance"


class OverCashLimit(PointsError):
    """More points than the rule lets the basket take (its share of the order)."""

    code = "over_cash_limit"


class NotAStep(PointsError):
    """Points are used in steps (whole yuan by default)."""

    code = "points_step"


class HoldExpired(PointsError):
    """The hold's time ran out: it cannot pay any more (the job releases it)."""

    code = "hold_expired"


class HoldClosed(PointsError):
    """The hold was captured or released already."""

    code = "hold_closed"


class HoldMismatch(PointsError):
    """The purchase is not the hold's: another member, partner, store, channel or amount."""

    code = "hold_mismatch"
