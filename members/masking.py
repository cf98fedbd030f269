"""Masking of personal data for roles that do not need to see it (PIPL data minimisation).

Whether a user sees full values is one permission, ``members.view_member_pii``; everything
that shows a member's personal data to a user asks ``can_view_pii`` first.
"""

from __future__ import annotations

import datetime
import re

from members.phones import national_digits

PII_PERMISSION = "members.view_member_pii"


def can_view_pii(user) -> bool:
    return bool(user and user.has_perm(PII_PERMISSION))


def mask_phone(value: object) -> str:
    """``+8613812345678`` -> ``138****5678`` (keeps what staff read back to a customer)."""
    text = national_digits(str(getattr(value, "as_e164", value) or ""))
    if len(text) < 7:
        return "*" * len(text)
    return f"{text[:3]}****{text[-4:]}"


def mask_name(value: str) -> str:
    """``张伟`` -> ``张*``; ``Alice Wang`` -> ``A*********``: the surname or initial stays."""
    if not value:
        return ""
    return value[0] + "*" * (len(value) - 1)


def mask_email(value: str) -> str:
    if not value or "@" not in value:
        return mask_identifier(value)
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_identifier(value: str) -> str:
    """Long ids (OpenID, platform accounts): first and last characters only."""
    if not value:
        return ""
    if len(value) <= 4:
        return "*" * len(value)
    return f"{value[:2]}{'*' * min(len(value) - 4, 8)}{value[-2:]}"


def mask_address(value: str) -> str:
    """Keeps the city and district (the first characters); the rest names and locates a person."""
    if not value:
        return ""
    return value[:6] + "****" if len(value) > 6 else "*" * len(value)


def mask_birthday(value: datetime.date | None) -> str:
    """The year goes; month and day stay so staff can still offer the birthday gift."""
    return f"****-{value:%m-%d}" if value else ""


#: Mainland mobiles as people write them (+86 138 1234 5678, 8613812345678, 138-1234-5678) and
#: e-mail addresses, inside free text such as an import row's rejection reason.
_PHONE_IN_TEXT = re.compile(r"(?<![\d*])(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)")
_EMAIL_IN_TEXT = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def mask_text(text: str) -> str:
    """Phones and e-mail addresses inside a text, masked like the fields that hold them."""
    text = _PHONE_IN_TEXT.sub(lambda m: mask_phone(re.sub(r"\D", "", m.group())[-11:]), text)
    return _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group()), text)
