"""Numbers as reports show them, in every language: ``1,234,567`` points, ``1,234,567.50`` CNY,
``12.3%``. One set of functions for pages, downloads and messages (the template filters in
``members/templatetags/formats.py`` call these), so a figure reads the same everywhere.

A share that is not zero never reads as zero: 0.04 % is ``<0.1%``, not ``0.0%`` (a finance
reader would take 0.0 % breakage or uplift for none at all).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

Number = int | float | Decimal

_CENT = Decimal("0.01")


def _decimal(value: Number | str) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def whole(value: Number | None) -> str:
    """``1234567`` -> ``1,234,567``; ``None`` -> ``-``."""
    if value is None or value == "":
        return "-"
    return f"{_decimal(value).quantize(Decimal(1), ROUND_HALF_UP):,}"


def money(value: Number | str | None) -> str:
    """An amount of CNY with fen: ``1234567.5`` -> ``1,234,567.50`` (half up, as receipts round)."""
    if value is None or value == "":
        return "-"
    return f"{_decimal(value).quantize(_CENT, ROUND_HALF_UP):,.2f}"


def cny(value: Number | str | None) -> str:
    """``1234567.5`` -> ``¥1,234,567.50``."""
    text = money(value)
    return text if text == "-" else f"-¥{text[1:]}" if text.startswith("-") else f"¥{text}"


def percent(share: Number | str | None, *, digits: int = 1, signed: bool = False) -> str:
    """A fraction as a percentage: ``0.1234`` -> ``12.3%``; ``0.0004`` -> ``<0.1%`` (a share that
    is not zero never shows as ``0.0%``); ``signed`` for changes: ``+1.2%``, ``-<0.1%``."""
    if share is None or share == "":
        return "-"
    value = _decimal(share) * 100
    step = Decimal(1).scaleb(-digits)
    shown = value.quantize(step, ROUND_HALF_UP)
    if value and not shown:
        sign = "-" if value < 0 else "+" if signed else ""
        return f"{sign}<{step}%"
    return f"{shown:{'+' if signed else ''},.{digits}f}%"
