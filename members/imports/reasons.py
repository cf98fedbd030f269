"""Why an import row was rejected, skipped or noted: codes with parameters, and their words.

A reason is stored as data, ``{"code": "not_amount", "params": {"value": "abc"}}``, under the
profile's logical field it is about (``ImportRow.errors`` is ``{field: [reason, ...]}``). The
words live here, in one gettext catalogue, and are produced when someone reads them: in the
reader's language, naming the file's own column ("原小票号", not ``original_order_number``).
So a row rejected while the preview ran in Chinese reads in English for an English reader.

Parameters are JSON values (amounts and times as the text the message shows). A parameter whose
name is in ``_RENDERERS`` names fields and is turned into the file's column names when shown.

Reasons stored before codes existed are plain strings; they are shown as they were stored
(there is no reliable way back from a translated sentence to its code and values).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

Reason = dict[str, Any]
Errors = dict[str, list[Any]]  # field -> reasons (dicts, or strings stored before codes)

#: The fields that are no column of a file: their reasons are shown without a column name.
NO_COLUMN = ("", "member")

#: Every reason an import can give, by code.
MESSAGES: dict[str, Any] = {
    # the file's text
    "empty_amount": gettext_lazy("The amount is empty."),
    "not_amount": gettext_lazy("“%(value)s” is not an amount."),
    "too_many_decimals": gettext_lazy("“%(value)s” has more than two decimals."),
    "empty_date": gettext_lazy("The date is empty."),
    "not_datetime": gettext_lazy("“%(value)s” is not a date and time (use 2026-11-01 10:02)."),
    "not_date": gettext_lazy("“%(value)s” is not a date (use 2026-11-01)."),
    "unreal_date": gettext_lazy("“%(value)s” is not a real date."),
    "too_long": gettext_lazy("Longer than %(limit)d characters: “%(value)s…”."),
    "empty_phone": gettext_lazy("Phone number is empty."),
    "not_phone": gettext_lazy("“%(value)s” is not a phone number."),
    "phone_length": gettext_lazy("“%(value)s” is not a valid phone number (wrong length or unknown prefix)."),
    "not_mobile": gettext_lazy("“%(value)s” is a landline, not a mobile number."),
    "unknown_status": gettext_lazy("Unknown status “%(value)s”."),
    "unknown_gender": gettext_lazy("Unknown gender “%(value)s” (use 男, 女 or 未知)."),
    "unknown_channel": gettext_lazy("Unknown channel “%(value)s”."),
    "birthday_too_old": gettext_lazy("Birthday %(date)s is too far in the past."),
    # a referral code (members.referrals.errors: the service's codes are these)
    "referral_unknown": gettext_lazy("No member has this referral code."),
    "referral_taken": gettext_lazy("This member was referred already."),
    "referral_closed": gettext_lazy("The member of this referral code is closed or merged."),
    "referral_self": gettext_lazy(
        "The referral code is the member's own: they share a phone, an id or a device with its member."
    ),
    # one row's values
    "order_number_required": gettext_lazy("The order number is required."),
    "future": gettext_lazy("%(when)s is in the future."),
    "return_positive": gettext_lazy("A return must have a negative amount."),
    "refund_zero": gettext_lazy("A refund amount must be above zero."),
    "original_required": gettext_lazy("A return needs the original receipt number."),
    "sale_negative": gettext_lazy("A sale cannot have a negative amount."),
    "negative": gettext_lazy("An amount cannot be negative."),
    "implausible": gettext_lazy("%(amount)s CNY is not a plausible amount."),
    "paid_above_gross": gettext_lazy("The paid amount cannot exceed the gross amount."),
    "refunded_above_paid": gettext_lazy("The refunded amount cannot exceed the paid amount."),
    "refund_missing": gettext_lazy("A refunded order needs its refund amount."),
    "no_member_named": gettext_lazy("The row names no member (no card number, phone or UnionID)."),
    "no_member_listed": gettext_lazy("The row names no member (no member number or phone)."),
    "no_member_named_legacy": gettext_lazy("The row names no member (no member number, phone or card)."),
    "same_record": gettext_lazy("Same record as row %(row)d."),
    "not_member_number": gettext_lazy("“%(value)s” is not a member number."),
    "not_one_member": gettext_lazy("The member number and the phone are two different members."),
    "same_member": gettext_lazy("Same member as row %(row)d."),
    "already_listed": gettext_lazy("Already on the list."),
    "no_identity": gettext_lazy("A member needs a phone, a card number or a WeChat UnionID."),
    # the row against the database and the rest of the file
    "unknown_store": gettext_lazy(
        "Unknown store code %(code)s: map it to one of our stores in the import profile's "
        "store codes, or add the store."
    ),
    "other_store": gettext_lazy("The row is for store %(code)s; this import is for store %(ours)s."),
    "not_your_store": gettext_lazy("Store %(code)s is not one of your stores."),
    "same_number": gettext_lazy("Same number as row %(row)d."),
    "sale_missing": gettext_lazy("The original receipt %(number)s is not imported: import the sale first."),
    "imported_differently": gettext_lazy("%(number)s was already imported with %(paid)s CNY at %(when)s."),
    "imported_other_amounts": gettext_lazy("%(number)s was already imported with other amounts."),
    "already_imported": gettext_lazy("Already imported."),
    "too_much": gettext_lazy("Only %(left)s CNY of this purchase is left to refund."),
    "already_member": gettext_lazy("Already a member."),
    "two_members": gettext_lazy("The row names two different members: %(owners)s."),
    "member_closed": gettext_lazy("Member %(number)s is closed."),
    "no_such_member": gettext_lazy("No member has %(identities)s."),
    "taken": gettext_lazy(
        "Already belongs to another member: %(owners)s. Fix the row or merge the members first."
    ),
    "shared_identity": gettext_lazy(
        "%(column)s %(value)s is also in row %(row)d: two people cannot share it."
    ),
    "conflict": gettext_lazy("Conflicts with data written meanwhile; import the file again."),
    "return_matched": gettext_lazy(
        "Return matched to sale %(number)s of %(when)s (%(left)s CNY not yet refunded)."
    ),
    "no_sale_to_match": gettext_lazy(
        "No sale of this member at this store in %(days)d days before has %(amount)s CNY to refund. "
        "Give the original receipt number."
    ),
    # skipped rows
    "blank_row": gettext_lazy("blank row"),
    "totals_row": gettext_lazy("totals row"),
    "closed_order": gettext_lazy("closed: earns nothing"),
    "not_paid": gettext_lazy("not paid"),
}

#: ``members.phones.normalize_mobile`` codes -> ours.
PHONE_CODES = {
    "empty": "empty_phone",
    "invalid_phone": "not_phone",
    "phone_length": "phone_length",
    "not_mobile": "not_mobile",
}


def reason(code: str, /, **params: Any) -> Reason:
    """A reason to store. Unknown codes are a programming error: fail where they are made."""
    if code not in MESSAGES:
        raise KeyError(code)
    return {"code": code, "params": params} if params else {"code": code}


def error(code: str, /, **params: Any) -> ValidationError:
    """The ValidationError of a reason: ``.messages`` reads in the current language, and
    ``reasons_of`` turns it back into the stored form."""
    return ValidationError(MESSAGES[code], code=code, params=params or None)


def reasons_of(exc: ValidationError, *, codes: Mapping[str, str] | None = None) -> list[Reason]:
    """A ValidationError (without fields) as reasons. ``codes`` maps another module's codes to
    ours (the phone parser's); an error of a service that has no code here keeps its words."""
    found = []
    for item in exc.error_list:
        code = (codes or {}).get(item.code or "", item.code)
        if code in MESSAGES and (codes is not None or item.message is MESSAGES[code]):
            found.append(reason(code, **_jsonable(item.params or {})))
        else:
            text = str(item.message % item.params if item.params else item.message)
            found.append({"code": "text", "params": {"text": text}})
    return found


def field_reasons(exc: ValidationError, default: str = "") -> Errors:
    """A ValidationError, with fields or without (then under ``default``), as stored errors."""
    if hasattr(exc, "error_dict"):
        return {name: reasons_of(ValidationError(errors)) for name, errors in exc.error_dict.items()}
    return {default: reasons_of(exc)}


def _jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: value if isinstance(value, int | str | list) else str(value) for key, value in params.items()
    }


# --- words ---------------------------------------------------------------------------------


def column_name(field: str, labels: Mapping[str, str]) -> str:
    """The file's own header for a logical field, else the field in the reader's words."""
    if field in labels:
        return labels[field]
    from members.imports.mapping import LIST_FIELDS, MEMBER_FIELDS, PURCHASE_FIELDS, legacy_fields

    name = (
        PURCHASE_FIELDS.get(field)
        or MEMBER_FIELDS.get(field)
        or LIST_FIELDS.get(field)
        or legacy_fields(field)
    )
    return str(name) if name else field


def _identities(value: Iterable[list[str]], labels: Mapping[str, str]) -> str:
    return ", ".join(f"{column_name(name, labels)} {text}" for name, text in value)


def _owners(value: Iterable[list[str]], labels: Mapping[str, str]) -> str:
    return ", ".join(
        _("%(what)s %(value)s is member %(number)s")
        % {"what": column_name(name, labels), "value": text, "number": number}
        for name, text, number in value
    )


#: Parameters that name fields, and how they read.
_RENDERERS: dict[str, Callable[[Any, Mapping[str, str]], str]] = {
    "column": column_name,
    "identities": _identities,
    "owners": _owners,
}


def reason_text(item: Reason | str, labels: Mapping[str, str] | None = None) -> str:
    """One reason in the current language; ``labels``: field -> the file's header."""
    if isinstance(item, str):
        return item  # stored before reasons had codes: the words of then
    labels = labels or {}
    params = dict(item.get("params") or {})
    code = item.get("code", "")
    if code not in MESSAGES:
        return str(params.get("text") or code)
    for name, render in _RENDERERS.items():
        if name in params:
            params[name] = render(params[name], labels)
    template = str(MESSAGES[code])
    if not params:
        return template
    try:
        return template % params
    except (KeyError, TypeError, ValueError):  # stored by another version of the catalogue
        return f"{template} {params}"


def errors_text(errors: Errors, labels: Mapping[str, str] | None = None) -> str:
    """Every reason of a row, each after the name of the file's column it is about."""
    labels = labels or {}
    return "; ".join(
        reason_text(item, labels)
        if field in NO_COLUMN
        else _("%(column)s: %(reason)s")
        % {"column": column_name(field, labels), "reason": reason_text(item, labels)}
        for field, items in errors.items()
        for item in items
    )


def errors_texts(errors: Errors, labels: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """``{field: [words, ...]}``, for tests and callers that want them apart."""
    return {field: [reason_text(item, labels) for item in items] for field, items in errors.items()}
