"""Serializer helpers shared by every app's endpoints."""

from __future__ import annotations

import datetime

from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_choice_field
from rest_framework import serializers

from members.partners.selectors import partner_stores

#: Facts older than this are typing errors (and dates near year 1 overflow on conversion).
EARLIEST = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)


class Strict(serializers.Serializer):
    """Input serializer that refuses fields it does not know (or that the server owns).

    Without this, ``{"balance": 1000000}`` would be silently dropped and the partner would
    believe it had been accepted.
    """

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: [_("Unknown or read-only field.")] for name in unknown}
                )
        return super().to_internal_value(data)


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


class Moment(serializers.DateTimeField):
    """An ISO 8601 date and time (without an offset: the programme's time zone), from 2000 on."""

    def to_internal_value(self, value):
        try:
            moment = super().to_internal_value(value)
        except OverflowError:  # DRF checks naive inputs near year 1 without catching it (a 500)
            self.fail("overflow")
        if moment < EARLIEST:
            raise serializers.ValidationError(_("Dates before 2000 are not accepted."))
        return moment


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
