"""How many points a basket may take as payment: a pure function of the rule, the basket and
the member's spendable points, shared by the quote (nothing written) and the hold (under the
account's lock), so what the till was quoted is what it may hold.

In order: the rule must be active for the channel and store; the member needs the minimum
balance; excluded lines (categories, SKUs) cannot be paid with points; of the rest at most
``max_share`` percent; never more than the member's spendable points; all rounded down to whole
steps (1 CNY = 100 积分 by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

from django.utils.translation import gettext as _

from members.purchases.baskets import Basket
from points.cash.models import CashRule
from points.models import PointType


@dataclass(frozen=True)
class Reason:
    """Why the points are limited, as a code for programs and words for people."""

    code: str
    message: str


@dataclass(frozen=True)
class Quote:
    point_type: PointType
    available: int  # spendable points now
    max_points: int  # the most the basket may take, a whole number of steps
    value: Decimal  # what ``max_points`` are worth, CNY
    step_points: int  # points in one step (0: points cannot pay here)
    step_value: Decimal
    eligible_amount: Decimal  # the order less its excluded lines
    hold_minutes: int
    reasons: list[Reason] = field(default_factory=list)
    refusal: str = ""  # the reason code that makes points unusable here at all, if any

    def value_of(self, points: int) -> Decimal:
        return points_value(self.point_type, points)


def points_value(point_type: PointType, points: int) -> Decimal:
    """CNY ``points`` are worth (exact for whole steps: a step is a whole number of points)."""
    return (Decimal(points) * point_type.cny_value).quantize(Decimal("0.01"))


def cash_quote(
    rule: CashRule | None,
    point_type: PointType,
    basket: Basket,
    *,
    available: int,
    store_ids: set[int],
    member_active: bool = True,
) -> Quote:
    """The quote for ``basket`` (its amount is required); ``store_ids``: the rule's stores (empty:
    every store). A member who is not active (frozen, closed) pays with no points."""
    if basket.amount is None:
        raise ValueError("points as cash are quoted on a basket with an amount")
    step = rule.step_points(point_type) if rule is not None else None
    unusable = _unusable(rule, point_type, basket, step, store_ids)
    if unusable is None and not member_active:
        unusable = Reason("member_closed", _("Only active members can pay with points."))
    if unusable is not None:
        return _none(rule, point_type, basket, available, unusable)
    assert rule is not None and step is not None
    reasons = []
    if available < rule.min_balance:
        reason = Reason(
            "below_min_balance",
            _("Points pay only from a balance of %(min)d; the member has %(have)d.")
            % {"min": rule.min_balance, "have": available},
        )
        return _none(rule, point_type, basket, available, reason, step)
    excluded = sum(
        (line.amount for line in basket.lines if line.listed(rule.excluded_categories, rule.excluded_skus)),
        Decimal(0),
    )
    eligible = max(basket.amount - excluded, Decimal(0))
    if excluded:
        reasons.append(
            Reason(
                "excluded_lines",
                _("%(amount)s CNY of the lines cannot be paid with points.") % {"amount": excluded},
            )
        )
    steps_by_share = int((eligible * rule.max_share / 100 / rule.step).to_integral_value(ROUND_FLOOR))
    steps_by_balance = available // step
    if steps_by_share <= steps_by_balance:
        if rule.max_share < 100:
            reasons.append(
                Reason(
                    "max_share",
                    _("At most %(share)d%% of %(amount)s CNY may be paid with points.")
                    % {"share": rule.max_share, "amount": eligible},
                )
            )
    else:
        reasons.append(
            Reason(
                "balance",
                _("The member has %(have)d spendable points, in steps of %(step)d.")
                % {"have": available, "step": step},
            )
        )
    max_points = min(steps_by_share, steps_by_balance) * step
    return Quote(
        point_type=point_type,
        available=available,
        max_points=max_points,
        value=points_value(point_type, max_points),
        step_points=step,
        step_value=rule.step,
        eligible_amount=eligible,
        hold_minutes=rule.hold_minutes,
        reasons=reasons,
    )


def _unusable(
    rule: CashRule | None, point_type: PointType, basket: Basket, step: int | None, store_ids: set[int]
) -> Reason | None:
    if rule is None or not rule.active or not point_type.redeemable:
        return Reason("cash_unavailable", _("%(type)s cannot pay at checkout.") % {"type": point_type.name})
    if step is None:
        return Reason(
            "cash_unavailable",
            _("%(type)s has no value in whole points per step: ask an operator.") % {"type": point_type.name},
        )
    if rule.channels and basket.channel not in rule.channels:
        return Reason("cash_unavailable", _("Points cannot pay on this channel."))
    if store_ids and basket.store_id not in store_ids:
        return Reason("cash_unavailable", _("Points cannot pay at this store."))
    return None


def _none(
    rule: CashRule | None,
    point_type: PointType,
    basket: Basket,
    available: int,
    reason: Reason,
    step: int | None = None,
) -> Quote:
    return Quote(
        point_type=point_type,
        available=available,
        max_points=0,
        value=Decimal("0.00"),
        step_points=step or 0,
        step_value=rule.step if rule is not None and step else Decimal("0.00"),
        eligible_amount=basket.amount or Decimal(0),
        hold_minutes=rule.hold_minutes if rule is not None else 0,
        reasons=[reason],
        refusal=reason.code,
    )
