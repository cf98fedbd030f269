"""Report numbers: thousands separators, fen for CNY, and no non-zero share shown as 0.0%."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.template import Context, Template

from config.common.formats import cny, money, percent, whole


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1234567.5, "1,234,567.50"),
        (Decimal("1234567.5"), "1,234,567.50"),
        (Decimal("0.005"), "0.01"),  # half up, as receipts round
        (Decimal("-1234.5"), "-1,234.50"),
        (0, "0.00"),
        ("999.999", "1,000.00"),
        (None, "-"),
    ],
)
def test_money_has_separators_and_two_decimals(value, expected):
    assert money(value) == expected


def test_cny_puts_the_sign_before_the_currency():
    assert (cny(Decimal("1234.5")), cny(Decimal("-3.456")), cny(None)) == ("¥1,234.50", "-¥3.46", "-")


def test_whole_numbers_have_separators():
    assert (whole(1234567), whole(-1000), whole(999), whole(None)) == ("1,234,567", "-1,000", "999", "-")


@pytest.mark.parametrize(
    ("share", "expected"),
    [
        (0.0004, "<0.1%"),  # not 0.0%: there is some
        (Decimal("0.00049"), "<0.1%"),
        (Decimal("0.0005"), "0.1%"),  # rounds up to a tenth of a percent
        (-0.0004, "-<0.1%"),
        (0, "0.0%"),  # truly none
        (Decimal("0.1234"), "12.3%"),
        (1, "100.0%"),
        (12.5, "1,250.0%"),
        (None, "-"),
    ],
)
def test_percent_never_shows_a_share_as_zero(share, expected):
    assert percent(share) == expected


def test_signed_percent_for_changes():
    assert (percent(Decimal("1"), signed=True), percent(0.0001, signed=True)) == ("+100.0%", "+<0.1%")
    assert percent(Decimal("-0.25"), signed=True) == "-25.0%"


def test_the_template_filters_are_the_same_functions():
    rendered = Template("{% load formats %}{{ a|money }} {{ a|cny }} {{ n|whole }} {{ s|percent }}").render(
        Context({"a": Decimal("1234567.5"), "n": 1234567, "s": 0.0004})
    )
    assert rendered == "1,234,567.50 ¥1,234,567.50 1,234,567 &lt;0.1%"
