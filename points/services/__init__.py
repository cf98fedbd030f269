"""The only way to change points. See points/models.py for the balance rules they keep."""

from points.services.adjustments import adjustment_approve, adjustment_reject, points_adjust
from points.services.batch import lots_activate_due, lots_expire_due
from points.services.ledger import (
    points_earn,
    points_earn_many,
    points_refund,
    points_spend,
    points_transfer,
)
from points.services.reverse import ReverseRequest, points_reverse, points_reverse_bulk

__all__ = [
    "ReverseRequest",
    "adjustment_approve",
    "adjustment_reject",
    "lots_activate_due",
    "lots_expire_due",
    "points_adjust",
    "points_earn",
    "points_earn_many",
    "points_refund",
    "points_reverse",
    "points_reverse_bulk",
    "points_spend",
    "points_transfer",
]
