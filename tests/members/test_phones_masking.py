"""Phone normalisation and masking of personal data."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from members import masking
from members.phones import normalize_mobile


@pytest.mark.parametrize(
    "raw",
    [
        "13912345678",
        "+86 139 1234 5678",
        "+86-139-1234-5678",
        "008613912345678",
        " 139 1234 5678 ",
        "+8613912345678",
    ],
)
def test_spellings_of_one_phone_normalise_to_one_value(raw):
    assert normalize_mobile(raw) == "+8613912345678"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("1380000000", "not a valid"), ("", "empty"), ("abc", "not a phone"), ("010-12345678", "landline")],
)
def test_invalid_phones_say_why(raw, reason):
    with pytest.raises(ValidationError, match=reason):
        normalize_mobile(raw)


def test_foreign_mobiles_keep_their_country():
    assert normalize_mobile("+852 9123 4567") == "+85291234567"


@given(st.from_regex(r"1[3589][0-9]{9}", fullmatch=True))
def test_normalising_is_idempotent(digits):
    try:
        once = normalize_mobile(digits)
    except ValidationError:
        return
    assert normalize_mobile(once) == once


def test_masks():
    assert masking.mask_phone("+8613812345678") == "138****5678"
    assert masking.mask_name("张伟") == "张*"
    assert masking.mask_name("欧阳娜娜") == "欧***"
    assert masking.mask_email("zhang.wei@example.com") == "z***@example.com"
    assert masking.mask_birthday(datetime.date(1988, 3, 14)) == "****-03-14"
    assert masking.mask_identifier("oUnion_zhangwei_01") == "oU********01"


def test_phones_and_emails_inside_a_text_are_masked():
    reason = "手机号 +8618400000026 是会员 812345678901；138-1234-5678、+86 139 1234 5678、ab.c@example.com"
    assert masking.mask_text(reason) == (
        "手机号 184****0026 是会员 812345678901；138****5678、139****5678、a***@example.com"
    )
    assert masking.mask_text("订单 2026013812345678") == "订单 2026013812345678"  # part of a longer number
