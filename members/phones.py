"""Phone numbers: one canonical form (E.164) for everything members type or import.

``+86 139 1234 5678``, ``008613912345678`` and ``13912345678`` are the same member's phone.
"""

from __future__ import annotations

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

_MOBILE_TYPES = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}


def normalize_mobile(raw: object) -> str:
    """Return the E.164 form of a mobile number, or raise ValidationError saying why not."""
    text = str(raw or "").strip()
    if not text:
        raise ValidationError(_("Phone number is empty."), code="empty")
    try:
        number = phonenumbers.parse(text, settings.PHONENUMBER_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        raise ValidationError(
            _("“%(value)s” is not a phone number."), code="invalid_phone", params={"value": text}
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            _("“%(value)s” is not a valid phone number (wrong length or unknown prefix)."),
            code="phone_length",
            params={"value": text},
        )
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise ValidationError(
            _("“%(value)s” is a landline, not a mobile number."), code="not_mobile", params={"value": text}
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def try_normalize_mobile(raw: object) -> str | None:
    """E.164 form, or None when the text is not a mobile number (for free-text lookups)."""
    try:
        return normalize_mobile(raw)
    except ValidationError:
        return None


def national_digits(e164: str) -> str:
    """``+8613912345678`` -> ``13912345678``; other countries keep their + form."""
    prefix = "+86"
    return e164[len(prefix) :] if e164.startswith(prefix) else e164
