"""What a coupon is worth on a basket: the conditions its benefit carries and the discount.

One function, ``coupon_terms``, for validating and redeeming alike (the API and the counter's
page), so what a till is told beforehand is what redeeming does. Checked in this order, each
refusal with its own code (``benefits.errors``):

1. where and when: the benefit's channels, stores, weekdays and hours (the programme's time zone);
2. the basket: a coupon with a minimum spend or conditions on lines needs one (its amount; with
   line conditions, its lines, or at the counter the amount of the items it applies to). A
   coupon without either may be redeemed without a basket: the till computes what it takes off;
3. the lines it applies to: listed categories or SKUs (empty: every line), less the excluded
   ones. Without line conditions the whole order counts, listed lines or not; with them only the
   listed lines that qualify (the unlisted part of an order is nothing known);
4. the minimum spend, on that eligible amount.

The discount, by kind: amount off is its value, at most the eligible amount; percent off is the
percentage of the eligible amount, rounded half up to the fen, at most ``max_discount``; free
shipping, gifts and invitations take nothing off the basket (0.00: the till waives the shipping
or hands the gift over). Without a basket the discount and eligible amount are unknown (None).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone
from django.utils.translation import gettext as _

from benefits.errors import (
    CouponBasketRequired,
    CouponMinimumSpend,
    CouponNotEligible,
    CouponWrongChannel,
    CouponWrongStore,
    CouponWrongTime,
)
from benefits.models import Benefit
from members.models import Channel, Store
from members.purchases.baskets import Basket, BasketLine

ZERO = Decimal("0.00")
FEN = Decimal("0.01")


@dataclass(frozen=True)
class Terms:
    """What redeeming takes off: None and None when no basket was given."""

    eligible_amount: Decimal | None
    discount: Decimal | None


def _money(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def _hour_matches(benefit: Benefit, hour: int) -> bool:
    start = 0 if benefit.hour_from is None else benefit.hour_from
    end = 24 if benefit.hour_to is None else benefit.hour_to
    if start <= end:
        return start <= hour < end
    return hour >= start or hour < end  # 22 to 2: across midnight


def _check_where_and_when(benefit: Benefit, store: Store, channel: str, at: datetime.datetime) -> None:
    if benefit.channels and channel not in benefit.channels:
        names = ", ".join(str(Channel(c).label) for c in benefit.channels if c in Channel.values)
        raise CouponWrongChannel(
            _("This coupon is for %(channels)s only.") % {"channels": names}, field="channel"
        )
    stores = list(benefit.stores.all()) if benefit.pk else []
    if stores and store.pk not in {s.pk for s in stores}:
        raise CouponWrongStore(
            _("This coupon is for %(stores)s only.") % {"stores": ", ".join(str(s) for s in stores)},
            field="store",
        )
    local = timezone.localtime(at)
    if benefit.weekdays and local.isoweekday() not in {int(day) for day in benefit.weekdays}:
        raise CouponWrongTime(_("This coupon cannot be used on this day of the week."))
    if (benefit.hour_from is not None or benefit.hour_to is not None) and not _hour_matches(
        benefit, local.hour
    ):
        raise CouponWrongTime(
            _("This coupon can be used from %(start)02d:00 until %(end)02d:00.")
            % {"start": benefit.hour_from or 0, "end": 24 if benefit.hour_to is None else benefit.hour_to}
        )


def eligible_lines(benefit: Benefit, lines: Sequence[BasketLine]) -> list[BasketLine]:
    """The lines the coupon applies to: in a listed category or of a listed SKU (every line when
    none is listed), and neither in an excluded category nor of an excluded SKU."""
    included = benefit.categories, benefit.skus
    excluded = benefit.excluded_categories, benefit.excluded_skus
    limited = bool(included[0] or included[1])
    return [line for line in lines if (not limited or line.listed(*included)) and not line.listed(*excluded)]


def _eligible_amount(benefit: Benefit, basket: Basket) -> Decimal:
    assert basket.amount is not None
    if not benefit.limits_lines:
        return basket.amount
    if basket.lines:
        qualifying = eligible_lines(benefit, basket.lines)
        if not qualifying:
            raise CouponNotEligible(
                _("None of the basket's lines is one this coupon applies to."), field="lines"
            )
        return sum((line.amount for line in qualifying), ZERO)
    if basket.eligible_amount is not None:
        return basket.eligible_amount
    raise CouponBasketRequired(
        _("This coupon applies to some items only (%(items)s): their lines or their amount are needed.")
        % {"items": items_of(benefit)},
        field="lines",
    )


def items_of(benefit: Benefit) -> str:
    """The items a coupon applies to, in words: ``饮品, SKU-1, not 烟酒``, ``anything but 烟酒``."""
    listed = ", ".join([*benefit.categories, *benefit.skus])
    excluded = ", ".join([*benefit.excluded_categories, *benefit.excluded_skus])
    if not excluded:
        return listed
    if not listed:
        return _("anything but %(excluded)s") % {"excluded": excluded}
    return _("%(items)s, not %(excluded)s") % {"items": listed, "excluded": excluded}


def discount_of(benefit: Benefit, eligible: Decimal) -> Decimal:
    """What the coupon takes off an eligible amount (see the module's docstring)."""
    if benefit.kind == Benefit.Kind.AMOUNT_OFF:
        return _money(min(benefit.value, eligible))
    if benefit.kind == Benefit.Kind.PERCENT_OFF:
        off = _money(eligible * benefit.value / 100)
        if benefit.max_discount is not None:
            off = min(off, benefit.max_discount)
        return _money(off)
    return ZERO


def coupon_terms(
    benefit: Benefit, *, store: Store, channel: str, basket: Basket, at: datetime.datetime
) -> Terms:
    """The eligible amount and the discount of a coupon of ``benefit`` on ``basket``, or the
    refusal (a ``CouponNotRedeemable`` with its own code) saying why it cannot be used."""
    _check_where_and_when(benefit, store, channel, at)
    if basket.amount is None:
        if benefit.min_spend > 0 or benefit.limits_lines:
            raise CouponBasketRequired(
                _("This coupon has a minimum spend or applies to some items only: send the basket."),
                field="amount",
            )
        return Terms(eligible_amount=None, discount=None)
    eligible, minimum = _money(_eligible_amount(benefit, basket)), _money(benefit.min_spend)
    if eligible < minimum:
        raise CouponMinimumSpend(
            _("The minimum spend is ¥%(minimum)s; the basket has ¥%(eligible)s that counts.")
            % {"minimum": minimum, "eligible": eligible},
            field="amount",
            answer={"minimum_spend": str(minimum), "eligible_amount": str(eligible)},
        )
    return Terms(eligible_amount=eligible, discount=discount_of(benefit, eligible))
