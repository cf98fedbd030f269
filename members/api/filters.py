"""Filters shared by the API's list endpoints."""

from __future__ import annotations

import datetime

import django_filters
from django import forms
from django.utils.translation import gettext as _
from django_filters.fields import IsoDateTimeField

from members.api.serializers import EARLIEST


class _UtcIsoDateTimeField(IsoDateTimeField):
    """ISO 8601 with any offset Python accepts, handed to the database in UTC.

    PostgreSQL refuses offsets beyond ±15:59 (``2026-01-01T00:00+16:32`` is valid ISO): without
    the conversion such a filter value was a 500.
    """

    def to_python(self, value):
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


class DateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = _UtcIsoDateTimeField
