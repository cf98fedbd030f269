"""A copy of everything the programme holds about one member (PIPL art. 45: access, portability).

One JSON document, section by section. This module writes the member domain's sections; the apps
above members add theirs (points, tiers, coupons) to ``PERSONAL_DATA`` when Django starts. Each
section is a list of plain records (field name -> value), so any system can read it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.utils import timezone

from members.messaging.models import Message
from members.models import ConsentRecord, Identity, Member
from members.partners.models import PartnerMember
from members.purchases.models import MemberEvent, Purchase, PurchaseLine

#: (section, records of the member): the apps above members append theirs.
PERSONAL_DATA: list[tuple[str, Callable[[Member], list[dict[str, Any]]]]] = []


def records(queryset: QuerySet, *fields: str) -> list[dict[str, Any]]:
    return list(queryset.values(*fields))


def _profile(member: Member) -> list[dict[str, Any]]:
    fields = [
        "member_number", "name", "mobile", "email", "gender", "birthday", "province", "city",
        "registration_channel", "registration_store__code", "status", "sms_consent", "email_consent",
        "wechat_consent", "created_at", "updated_at",
    ]  # fmt: skip
    row = Member.objects.filter(pk=member.pk).values(*fields).get()
    row["mobile"] = member.mobile.as_e164 if member.mobile else None
    row["tags"] = list(member.tags.values_list("name", flat=True))
    return [row]


def _history(member: Member) -> list[dict[str, Any]]:
    """Every earlier version of the profile and of the ids, with who changed them and why."""
    versions = records(
        Member.history.filter(id=member.pk).order_by("history_date"),
        "history_date", "history_type", "history_change_reason", "history_user__username",
        "name", "mobile", "email", "gender", "birthday", "province", "city", "status",
    )  # fmt: skip
    for version in versions:
        version["mobile"] = version["mobile"].as_e164 if version["mobile"] else None
    ids = records(
        Identity.history.filter(member_id=member.pk).order_by("history_date"),
        "history_date", "history_type", "history_change_reason", "kind", "namespace", "value",
    )  # fmt: skip
    return versions + ids


MEMBER_SECTIONS: list[tuple[str, Callable[[Member], list[dict[str, Any]]]]] = [
    ("profile", _profile),
    (
        "identities",
        lambda m: records(Identity.objects.filter(member=m), "kind", "namespace", "value", "created_at"),
    ),
    (
        "consents",
        lambda m: records(
            ConsentRecord.objects.filter(member=m).order_by("recorded_at"),
            "channel",
            "granted",
            "recorded_at",
            "source",
        ),
    ),
    ("history", _history),
    (
        "purchases",
        lambda m: records(
            Purchase.objects.filter(member=m).order_by("occurred_at"),
            "source",
            "order_number",
            "channel",
            "store__code",
            "occurred_at",
            "gross_amount",
            "paid_amount",
            "refunded_amount",
            "status",
        ),
    ),
    (
        "purchase_lines",
        lambda m: records(
            PurchaseLine.objects.filter(purchase__member=m).order_by("purchase_id", "id"),
            "purchase__order_number",
            "sku",
            "name",
            "category",
            "quantity",
            "amount",
        ),
    ),
    (
        "events",
        lambda m: records(MemberEvent.objects.filter(member=m), "event_type__code", "occurred_at", "channel"),
    ),
    (
        "messages",
        lambda m: records(
            Message.objects.filter(member=m).order_by("created_at"),
            "channel",
            "kind",
            "recipient",
            "subject",
            "body",
            "status",
            "created_at",
            "sent_at",
        ),
    ),
    (
        "partner_links",
        lambda m: records(PartnerMember.objects.filter(member=m), "partner__name", "linked_at"),
    ),
]


def personal_data(member: Member) -> dict[str, Any]:
    sections = {name: read(member) for name, read in [*MEMBER_SECTIONS, *PERSONAL_DATA]}
    return {"member_number": member.member_number, "exported_at": timezone.now(), "sections": sections}


def personal_data_json(member: Member) -> bytes:
    return json.dumps(personal_data(member), cls=DjangoJSONEncoder, ensure_ascii=False, indent=2).encode()
