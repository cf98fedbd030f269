"""Serializer helpers shared by every app's endpoints."""

from __future__ import annotations

import datetime
import inspect
import re
from decimal import Decimal

from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_choice_field, force_instance
from rest_framework import serializers

from members.partners.selectors import partner_stores

#: Facts older than this are typing errors (and dates near year 1 overflow on conversion).
EARLIEST = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)


class Strict(serializers.Serializer):
    """Input serializer that refuses fields it does not know (or that the server owns).

    Without this, ``{"balance": 1000000}`` would be silently dropped and the partner would
    believe it had been accepted. The schema says so: ``additionalProperties: false``.

    ``required_any``: groups of fields of which at least one must be given, non-empty (the
    schema states each group as an ``anyOf``); ``validate`` must refuse the same.
    """

    required_any: tuple[tuple[str, ...], ...] = ()

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: [_("Unknown or read-only field.")] for name in unknown}
                )
        return super().to_internal_value(data)


class StrictSchema(OpenApiSerializerExtension):
    target_class = Strict
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        schema["additionalProperties"] = False
        # Only the class's own docstring: the ones it inherits (this class's, for one) are
        # written for developers, not integrators.
        own = type(force_instance(self.target)).__dict__.get("__doc__")
        if own:
            schema["description"] = inspect.cleandoc(own)
        else:
            schema.pop("description", None)
        for name, field in force_instance(self.target).fields.items():
            prop = schema["properties"].get(name)
            if (
                prop is not None
                and prop.get("type") == "string"
                and "pattern" not in prop
                and isinstance(field, serializers.CharField)
            ):
                # DRF refuses NUL characters, and trims white space before refusing a blank
                prop["pattern"] = NO_NUL if field.allow_blank or not field.trim_whitespace else NOT_BLANK
        for group in getattr(self.target, "required_any", ()):
            schema.setdefault("anyOf", []).extend(
                {"required": [name], "properties": {name: _non_empty(schema["properties"][name])}}
                for name in group
            )
        return schema


#: No NUL character (DRF refuses them), and for a field that may not be blank, something besides
#: the white space Python's ``str.strip`` removes (written out: a pattern's ``\s`` is JavaScript's,
#: which lacks \x1c-\x1f and \x85).
NO_NUL = r"^[^\x00]*$"
NOT_BLANK = r"^[^\x00]*[^\s\x00\x1c-\x1f\x85][^\x00]*$"


def _non_empty(field_schema: dict) -> dict:
    if field_schema.get("type") == "array":
        return {"minItems": 1}
    return {"pattern": NOT_BLANK}  # a blank string counts as not given


class EnumField(serializers.ChoiceField):
    """A choice field whose OpenAPI enum is a component of its own name, e.g. ``EntryKindEnum``.

    drf-spectacular names inline enums by field name; several choice sets under one name
    (``kind``: identities, entries, rewards ...) used in several components cannot be named
    without ``ENUM_NAME_OVERRIDES``, and are a schema warning.
    """

    def __init__(self, enum_name: str, **kwargs) -> None:
        self.enum_name = enum_name
        super().__init__(**kwargs)


class EnumFieldSchema(OpenApiSerializerFieldExtension):
    target_class = EnumField

    def get_name(self) -> str:
        return self.target.enum_name

    def map_serializer_field(self, auto_schema, direction):
        schema = build_choice_field(self.target)
        schema.pop("x-spec-enum-id", None)
        return schema


#: RFC 3339 with its offset, from year 2000: what ``Moment`` and the list filters accept, and
#: the pattern the schema gives. A time without an offset is refused rather than guessed: a POS
#: in another time zone than the programme's would be off by hours without knowing it.
MOMENT = re.compile(
    r"^2[0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})$"
)
MOMENT_HELP = "RFC 3339 with an offset, from 2000 on: `2026-11-01T14:30:00+08:00`."


def moment_error() -> str:
    return _("A date and time with its offset, from 2000 on, e.g. 2026-11-01T14:30:00+08:00.")


class Moment(serializers.DateTimeField):
    """A date and time with its offset (RFC 3339), from 2000 on."""

    def to_internal_value(self, value):
        if not isinstance(value, str) or not MOMENT.fullmatch(value):
            raise serializers.ValidationError(moment_error())
        try:
            moment = super().to_internal_value(value)
        except OverflowError:  # DRF checks inputs near year 1 without catching it (a 500)
            self.fail("overflow")
        if moment < EARLIEST:
            raise serializers.ValidationError(_("Dates before 2000 are not accepted."))
        return moment


class MomentSchema(OpenApiSerializerFieldExtension):
    target_class = Moment

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "format": "date-time", "pattern": MOMENT.pattern}


def decimal_pattern(integer_digits: int, decimals: int, *, positive: bool, maximum: str = "") -> str:
    """A regular expression for decimals as canonical text: no sign, no leading zeros, no exponent,
    at most ``decimals`` places; above zero if ``positive``; ``maximum`` (an integer) included."""
    fraction = rf"(?:\.[0-9]{{1,{decimals}}})?"
    options = [rf"[1-9][0-9]{{0,{integer_digits - 1}}}{fraction}"]
    if positive:  # 0.x with a non-zero digit somewhere
        options += [rf"0\.0{{{k}}}[1-9][0-9]{{0,{decimals - k - 1}}}" for k in range(decimals)]
    else:
        options.append(rf"0{fraction}")
    if maximum:
        options.append(rf"{maximum}(?:\.0{{1,{decimals}}})?")
    return "^(?:" + "|".join(options) + ")$"


class DecimalText(serializers.DecimalField):
    """A decimal in a JSON string, e.g. ``"88.80"``: exactly what ``pattern`` allows, the pattern
    the schema gives. JSON numbers are refused (money does not go through floats), as are signs,
    exponents and leading zeros the pattern has no room for."""

    def __init__(self, *, pattern: str, example: str, **kwargs) -> None:
        self.pattern = pattern
        self.example = example
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str) or not re.fullmatch(self.pattern, data):
            values: dict[str, object] = {"example": self.example, "places": self.decimal_places}
            if self.max_value is None:
                message = _('A number as a string ("%(example)s"), above zero, at most %(places)d decimals.')
            else:
                values |= {"min": self.min_value, "max": self.max_value}
                message = _(
                    'A number as a string ("%(example)s"), %(min)s to %(max)s, at most %(places)d decimals.'
                )
            raise serializers.ValidationError(message % values)
        return super().to_internal_value(data)


class DecimalTextSchema(OpenApiSerializerFieldExtension):
    target_class = DecimalText
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        return {
            "type": "string",
            "format": "decimal",
            "pattern": self.target.pattern,
            "example": self.target.example,
        }


#: One receipt, one line or one refund: above a million CNY is a typing error (members.purchases.services).
MAX_CNY = 1_000_000


def cny(*, positive: bool = False, **kwargs) -> DecimalText:
    """CNY with 2 decimals, 0 (or 0.01 if ``positive``) to a million."""
    return DecimalText(
        pattern=decimal_pattern(6, 2, positive=positive, maximum=str(MAX_CNY)),
        example="88.80",
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01") if positive else Decimal(0),
        max_value=Decimal(MAX_CNY),
        **kwargs,
    )


class WholeNumber(serializers.IntegerField):
    """An integer as a JSON number: ``"12"``, ``12.0`` and ``true`` are refused (DRF's IntegerField
    takes all three), as the schema's ``integer`` says."""

    def to_internal_value(self, data):
        if not isinstance(data, int) or isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


def quantity(**kwargs) -> DecimalText:
    """Above zero, up to 3 decimals (weighed goods)."""
    return DecimalText(
        pattern=decimal_pattern(7, 3, positive=True),
        example="1",
        max_digits=10,
        decimal_places=3,
        min_value=Decimal("0.001"),
        **kwargs,
    )


class PartnerStoreField(serializers.CharField):
    """A store code naming one of the partner's (``context["partner"]``) active stores: the Store."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("help_text", "Code of one of the partner's stores.")
        super().__init__(**kwargs)

    def run_validation(self, data=serializers.empty):
        code = super().run_validation(data)  # the code's own checks (length, blank, null) first
        if code is None:
            return None
        store = partner_stores(self.context["partner"]).filter(code=code).first()
        if store is None:
            raise serializers.ValidationError(_("Not one of this partner's stores."))
        return store
