"""Column mapping: the canonical fields an operator can map a file's columns to, and the rules a
mapping must keep. Pure functions; the admin's column mapper and profile form use them.

A profile's ``columns`` is {canonical field: [header, ...]}. Mapping a sample file says exactly
what each of its headers is; other headers a profile already knew (a builtin profile's aliases)
stay, so a remapped profile still reads the files it read before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from members.imports.legacy import LEGACY
from members.imports.legacy import MEMBER_FIELDS as LEGACY_MEMBER_FIELDS
from members.imports.legacy import MEMBER_MATCH as LEGACY_MATCH
from members.imports.member_rows import HEADER_ALIASES
from members.imports.models import ImportProfile
from members.imports.profiles import SHIPPED

Kind = ImportProfile.Kind

#: Canonical fields of each kind of file, in the order the mapper offers them.
PURCHASE_FIELDS: dict[str, Any] = {
    "order_number": _("Order or receipt number"),
    "store_code": _("Store code"),
    "store_name": _("Store name"),
    "card": _("Membership card number"),
    "mobile": _("Mobile phone"),
    "unionid": _("WeChat UnionID"),
    "status": _("Status or transaction type"),
    "gross": _("Gross amount (before discounts)"),
    "paid": _("Paid amount"),
    "shipping": _("Shipping fee"),
    "refunded": _("Refunded amount"),
    "occurred_at": _("Transaction time"),
    "paid_at": _("Payment time"),
    "ordered_at": _("Order time"),
    "original_order_number": _("Original receipt number (of a return)"),
    "cashier": _("Cashier"),
    "shop": _("Online shop"),
}
MEMBER_FIELDS: dict[str, Any] = {
    "name": _("Name"),
    "mobile": _("Mobile phone"),
    "email": _("Email"),
    "gender": _("Gender"),
    "birthday": _("Birthday"),
    "province": _("Province"),
    "city": _("City"),
    "registration_channel": _("Registration channel"),
    "registration_store": _("Registration store code"),
    "card": _("Membership card number"),
    "unionid": _("WeChat UnionID"),
    "referral_code": _("Referral code (of the member who referred them)"),
}
#: A list of existing members for a static segment: who, by member number or phone.
LIST_FIELDS: dict[str, Any] = {
    "member_number": _("Member number"),
    "mobile": _("Mobile phone"),
}
assert set(MEMBER_FIELDS) == set(HEADER_ALIASES)  # the member list's fields are the importer's

#: The identities a row can name its member by, in the order a new profile tries them.
IDENTITIES = ("card", "mobile", "unionid")

#: Canonical statuses of purchase rows, and what each means to the importer.
STATUSES: dict[str, Any] = {
    "sale": _("Sale"),
    "return": _("Return (negative amounts, needs the original receipt)"),
    "completed": _("Order completed"),
    "refunded": _("Order refunded in full"),
    "partly_refunded": _("Order partly refunded"),
    "closed": _("Order closed (skipped: earns nothing)"),
    "unpaid": _("Not paid (skipped)"),
}


def fields_of(kind: str) -> dict[str, Any]:
    if kind in LEGACY:
        return {**LEGACY_MEMBER_FIELDS, **LEGACY[kind].fields}
    if kind == Kind.MEMBERS:
        return MEMBER_FIELDS
    return LIST_FIELDS if kind == Kind.SEGMENT else PURCHASE_FIELDS


def legacy_fields(field: str) -> Any:
    """An old CRM's field in words (``None``: not one of theirs)."""
    return next((legacy.fields[field] for legacy in LEGACY.values() if field in legacy.fields), None)


def field_label(kind: str, field: str) -> str:
    """``订单号或小票号 (order_number)``: the operator's words and the name messages use."""
    label = fields_of(kind).get(field)
    return f"{label} ({field})" if label else field


def header_key(text: str) -> str:
    """Headers compare without case, spaces or BOM (as ``members.imports.parsing.header_map`` does)."""
    return "".join(str(text).replace("\ufeff", "").split()).lower()


def suggestions(
    kind: str, headers: Iterable[str], known: Mapping[str, Iterable[str]] | None = None
) -> list[str]:
    """For each header, the field a known layout (``known`` first, then the shipped ones) calls
    it, or "" when none does; a field goes to its first header only."""
    lookup: dict[str, str] = {}
    layouts = [dict(known or {})] + [dict(p.columns) for p in SHIPPED.values() if p.kind == kind]
    for columns in layouts:
        for field, aliases in columns.items():
            if field in fields_of(kind):
                for alias in aliases:
                    lookup.setdefault(header_key(alias), field)
    taken: set[str] = set()
    out = []
    for header in headers:
        field = lookup.get(header_key(header), "")
        if field in taken:
            field = ""
        taken.add(field)
        out.append(field)
    return out


def required_problems(kind: str, mapped: Iterable[str], required: Iterable[str] | None = None) -> list[str]:
    """What a file mapped to ``mapped`` lacks; ``required`` are a builtin profile's own fields."""
    mapped = set(mapped)
    labels = fields_of(kind)
    problems = []
    if required is None and kind in LEGACY:
        required = LEGACY[kind].required
    elif required is None:
        required = ["order_number", "paid"] if kind == Kind.PURCHASES else []
    missing = [field for field in required if field not in mapped]
    if missing:
        problems.append(
            _("Say which column holds: %(fields)s.") % {"fields": ", ".join(str(labels[f]) for f in missing)}
        )
    if kind == Kind.PURCHASES and not mapped & {"occurred_at", "paid_at"}:
        problems.append(
            _("Say which column holds the %(time)s or the %(paid_at)s.")
            % {"time": labels["occurred_at"], "paid_at": labels["paid_at"]}
        )
    if kind in LEGACY:
        identities = set(LEGACY_MATCH)
    else:
        identities = set(LIST_FIELDS) if kind == Kind.SEGMENT else set(IDENTITIES)
    if not mapped & identities:
        problems.append(
            _("Say which column names the member: %(fields)s.")
            % {"fields": ", ".join(str(labels[f]) for f in labels if f in identities)}
        )
    return problems


def mapping_check(kind: str, mapping: Mapping[str, str], required: Iterable[str] | None = None) -> None:
    """``mapping`` is {header: field or ""}; raises ValidationError with every problem."""
    by_field: dict[str, list[str]] = {}
    for header, field in mapping.items():
        if field:
            by_field.setdefault(field, []).append(header)
    problems = [
        _("“%(headers)s” are all mapped to %(field)s: choose one.")
        % {"headers": "”, “".join(headers), "field": field_label(kind, field)}
        for field, headers in by_field.items()
        if len(headers) > 1
    ]
    problems += required_problems(kind, by_field, required)
    if problems:
        raise ValidationError(problems, code="mapping")


def columns_from_mapping(
    mapping: Mapping[str, str], previous: Mapping[str, Iterable[str]] | None = None
) -> dict[str, list[str]]:
    """The profile's new ``columns``: the sample's headers as mapped (ignored ones dropped from
    every field), then the other headers the profile knew for each field."""
    sample = {header_key(header) for header in mapping}
    columns: dict[str, list[str]] = {}
    for header, field in mapping.items():
        if field:
            columns.setdefault(field, []).append(header)
    for field, aliases in (previous or {}).items():
        for alias in aliases:
            if header_key(alias) not in sample:
                columns.setdefault(field, []).append(alias)
    return columns


def member_match_for(columns: Mapping[str, Any], previous: Iterable[str] = ()) -> list[str]:
    """Identities a profile matches by: those it had that are still mapped, then new ones."""
    keep = [name for name in previous if name in columns]
    return keep + [name for name in IDENTITIES if name in columns and name not in keep]
