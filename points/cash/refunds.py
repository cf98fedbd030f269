"""Refunds of purchases paid partly with points give the points back, in proportion.

After the refunds of a purchase add up to ``refunded`` of its ``paid`` amount, the member has had
``floor(held × refunded / paid)`` of the ``held`` points back, and all of them once everything is
refunded (the last refund gives the remainder), so partial refunds never give back more than was
held nor less in total. The points come back with the expiry dates they had, the latest-expiring
first; those whose date has passed meanwhile come back in a lot of that date and expire at the
next expiry run (they would have expired had they not been used). Once per refund
(``HoldRefund``, entry key ``cash:refund:<refund id>``).

Called by the earning pipeline in the refund's transaction (``refunds_take_back``, one refund or
a wave of an import), after it has locked the members; a purchase with no ``points_amount`` costs
no query.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext as _

from members.purchases.models import Purchase, Refund
from points.cash.models import Hold, HoldRefund
from points.cash.services import Parts, give_back, held_parts, lots_given_back
from points.models import PointType
from points.services.common import lock_accounts_many


def holds_refund(
    refunds: Sequence[tuple[Refund, Purchase]],
    *,
    locking: Iterable[tuple[int, PointType]] = (),
    at: datetime.datetime,
) -> list[HoldRefund]:
    """Give back the points share of each refund whose purchase a hold paid (see module doc).

    ``locking``: the (member id, point type) accounts the caller will lock next (a refund's
    reversals): locked here with the holds' accounts in one primary-key order, so the points
    account is never locked after another account of the same transaction.
    """
    paying = [(refund, purchase) for refund, purchase in refunds if purchase.points_amount]
    if not paying:
        return []
    holds = {
        hold.purchase_id: hold
        for hold in Hold.objects.filter(
            purchase_id__in=[purchase.pk for _r, purchase in paying], status=Hold.Status.CAPTURED
        ).select_related("point_type")
    }
    todo = [(refund, purchase, holds[purchase.pk]) for refund, purchase in paying if purchase.pk in holds]
    if not todo:
        return []
    accounts = lock_accounts_many([*locking, *((hold.member_id, hold.point_type) for _r, _p, hold in todo)])
    before = {hold.pk: _Before() for _r, _p, hold in todo}
    earlier = list(
        HoldRefund.objects.filter(hold__in=[hold for _r, _p, hold in todo]).select_related("refund")
    )
    back = lots_given_back(r.entry_id for r in earlier if r.entry_id)
    for row in earlier:
        before[row.hold_id].add(row, back.get(row.entry_id or 0, []))
    parts = held_parts([hold for _r, _p, hold in todo])
    made = []
    for refund, purchase, hold in todo:
        done = before[hold.pk]
        refunded = done.refunded + refund.amount
        target = _share(hold.points, refunded, purchase.paid_amount)
        points = max(target - done.points, 0)
        value = _value(hold, target) - done.value if points else Decimal("0.00")
        entry = None
        if points:
            entry = give_back(
                accounts[(hold.member_id, hold.point_type_id)], hold, points, done.left(parts[hold.pk]),
                key=f"cash:refund:{refund.pk}", reason=_("Points as cash given back: refund %(number)s")
                % {"number": refund.refund_number}, actor=None, at=at,
            )  # fmt: skip
        row = HoldRefund(hold=hold, refund=refund, points=points, value=value, entry=entry, created_at=at)
        made.append(row)
        done.add(row, [] if entry is None else lots_given_back([entry])[entry.pk])
    return HoldRefund.objects.bulk_create(made)


def _share(held: int, refunded: Decimal, paid: Decimal) -> int:
    if not paid or refunded >= paid:
        return held
    return int(held * refunded / paid)  # floor: both are positive


def _value(hold: Hold, points: int) -> Decimal:
    """CNY of ``points`` of the hold, at the value they were held at."""
    return (hold.value * points / hold.points).quantize(Decimal("0.01"), ROUND_HALF_UP)


class _Before:
    """What earlier refunds of one hold gave back: CNY refunded, points, value, and per expiry
    date, so the next refund takes the rest."""

    def __init__(self) -> None:
        self.refunded = Decimal(0)
        self.points = 0
        self.value = Decimal("0.00")
        self.dates: dict[datetime.datetime | None, int] = {}

    def add(self, row: HoldRefund, lots: Parts) -> None:
        self.refunded += row.refund.amount
        self.points += row.points
        self.value += row.value
        for expires, amount in lots:
            self.dates[expires] = self.dates.get(expires, 0) + amount

    def left(self, parts: Parts) -> Parts:
        """The hold's parts less what was given back of each date already, in the same order."""
        return [(expires, part - self.dates.get(expires, 0)) for expires, part in parts]
