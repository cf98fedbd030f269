"""Serializer helpers shared by every app's endpoints."""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import serializers


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
