"""Filters shared by the API's list endpoints."""

from __future__ import annotations

import datetime

import django_filters
from django import forms
from django.utils.translation import gettext as _
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from members.partners.api.serializers import EARLIEST, MOMENT, MOMENT_HELP, NOT_BLANK, moment_error


class _UtcIsoDateTimeField(IsoDateTimeField):
    """RFC 3339 with its offset (as ``Moment`` in bodies), handed to the database in UTC.

    PostgreSQL refuses offsets beyond ±15:59 (``2026-01-01T00:00:00+16:32`` is valid ISO):
    without the conversion such a filter value was a 500.
    """

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if not isinstance(value, str) or not MOMENT.fullmatch(value):
            raise forms.ValidationError(moment_error(), code="invalid")
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            moment = moment.astimezone(datetime.UTC)
        except OverflowError:
            moment = None
        if moment is None or moment < EARLIEST:
            raise forms.ValidationError(_("Dates before 2000 are not accepted."), code="invalid")
        return moment


@extend_schema_field(
    {"type": "string", "format": "date-time", "pattern": MOMENT.pattern, "description": MOMENT_HELP}
)
class DateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = _UtcIsoDateTimeField


class IntegerFilter(django_filters.NumberFilter):
    """A whole number (``NumberFilter`` takes decimals, which the schema's integer does not)."""

    field_class = forms.IntegerField


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter, where a filter given empty (``?status=``) is a 400 naming it: django-filter
    ignores it, so ``?created_after=`` listed everything while the schema said date-time."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None and getattr(view, "action", "list") == "list":
            # a mistyped filter (``?stauts=active``) would list everything unfiltered
            paginator = getattr(view, "paginator", None)
            known = set(filterset_class.base_filters)
            known |= {
                getattr(paginator, "cursor_query_param", ""),
                getattr(paginator, "page_size_query_param", ""),
            }
            if unknown := sorted(set(request.query_params) - known):
                raise serializers.ValidationError(
                    {name: [_("Not a parameter of this list.")] for name in unknown}
                )
        if filterset_class is not None:
            empty = sorted(
                name
                for name in filterset_class.base_filters
                if name in request.query_params and not request.query_params[name].strip()
            )
            if empty:
                raise serializers.ValidationError(
                    {name: [_("Empty: leave the parameter out to not filter by it.")] for name in empty}
                )
        return super().filter_queryset(request, queryset, view)


class StrictFilterSchema(DjangoFilterExtension):
    """The filters' parameters as drf-spectacular describes them, with text ones non-blank, as
    ``StrictFilterBackend`` checks (an enum, a format or a pattern already excludes blanks)."""

    # The base names its target by a dotted path, so the stubs infer str; a class is accepted too.
    target_class = StrictFilterBackend  # type: ignore[assignment]
    priority = 1

    def get_schema_operation_parameters(self, auto_schema, *args, **kwargs):
        parameters = super().get_schema_operation_parameters(auto_schema, *args, **kwargs)
        for parameter in parameters:
            schema = parameter["schema"]
            if schema.get("type") == "string" and not {"enum", "pattern", "format"} & schema.keys():
                schema["pattern"] = NOT_BLANK
        return parameters
