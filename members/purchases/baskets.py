"""What a customer is about to pay for at a till or a checkout: one type for every question asked
about a basket before the purchase is posted (what a coupon takes off, what points may pay)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class BasketLine:
    sku: str
    amount: Decimal
    category: str = ""
    quantity: Decimal = Decimal(1)

    def listed(self, categories: Collection[str], skus: Collection[str]) -> bool:
        """In one of ``categories`` or of one of ``skus``: how rules name the lines they apply
        to or exclude."""
        return self.category in categories or self.sku in skus


@dataclass(frozen=True)
class Basket:
    """``amount``: the order's total (CNY); None when no basket was given (a coupon without
    conditions may be redeemed without one). ``lines``: optional. ``channel`` and ``store_id``:
    where it is paid, for the questions that depend on it. ``eligible_amount``: typed at the
    store counter, which has no lines, for the items a coupon applies to."""

    amount: Decimal | None = None
    lines: Sequence[BasketLine] = ()
    channel: str = ""
    store_id: int | None = None
    eligible_amount: Decimal | None = None
    order_number: str = ""


NO_BASKET = Basket()
