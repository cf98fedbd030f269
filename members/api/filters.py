"""Filters shared by the API's list endpoints."""

from __future__ import annotations

import datetime

import django_filters
from django import forms
from django.utils.translation import gettext as _
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import extend_schema_field

from members.api.serializers import EARLIEST, MOMENT, MOMENT_HELP, moment_error


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
