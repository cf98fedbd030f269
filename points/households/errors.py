"""Business-rule failures of households, each with a stable ``code`` for the API."""

from __future__ import annotations

from points.errors import InsufficientPoints, PointsError


class HouseholdRefused(PointsError):
    code = "household_refused"


class PoolCapReached(InsufficientPoints):
    """The spend would draw more from the pool than the spender's monthly cap leaves."""

    code = "pool_cap_reached"
