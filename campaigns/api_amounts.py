"""The receipt's amounts as the purchase and preview endpoints read them (``campaigns.api``)."""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext as _
from rest_framework import serializers

from members.partners.api.serializers import cny


def amount(**kwargs) -> serializers.DecimalField:
    return cny(**kwargs)


def optional_amount(**kwargs) -> serializers.DecimalField:
    return cny(required=False, default=Decimal(0), **kwargs)


def check_amounts(data: dict, *, paid: str, shipping: str, gift_card: str, points: str) -> None:
    """What a receipt's parts may add up to, naming the field that is off (the names are the
    serializer's ``source`` names, which differ between a purchase and a preview).

    Shipping is part of what was paid for; gift cards and points are part of how it was paid:
    each is at most the paid amount, shipping and tenders independently. The lines may list
    less than was paid (a POS often sends only some lines; the rest earns as the basket's
    unlisted part) but never more."""
    errors: dict[str, list[str]] = {}
    paid_amount = data[paid]
    if data[shipping] > paid_amount:
        errors["shipping_amount"] = [_("Shipping cannot exceed the paid amount.")]
    tendered = data[gift_card] + data[points]
    if tendered > paid_amount:
        message = _("Gift cards and points together (%(tendered)s) cannot exceed the paid amount.") % {
            "tendered": tendered
        }
        for source, name in ((gift_card, "gift_card_amount"), (points, "points_amount")):
            if data[source]:
                errors[name] = [message]
    listed = sum((line["amount"] for line in data["lines"]), Decimal(0))
    if listed > paid_amount:
        errors["lines"] = [
            _("The lines add up to %(listed)s, more than the paid amount.") % {"listed": listed}
        ]
    if errors:
        raise serializers.ValidationError(errors)
