"""Reads scoped to one partner: the one place that decides what a partner may see."""

from __future__ import annotations

import datetime

from django.db.models import QuerySet
from django.utils import timezone

from members.models import Member, Store
from members.partners.models import Partner, PartnerMember
from members.purchases.models import Purchase


def partner_members(partner: Partner) -> QuerySet[Member]:
    """Every member for a first-party partner (the brand's own systems); for a third-party one,
    the members it enrolled or was shown a member code for (see ``PartnerMember``)."""
    if partner.is_first_party:
        return Member.objects.all()
    return Member.objects.filter(partner_links__partner=partner)


def partner_may_spend(partner: Partner, member: Member, now: datetime.datetime | None = None) -> bool:
    """Whether the partner may spend the member's points now: for a first-party partner always,
    unless a risk case asks for the member's code (``Member.require_code``, as the caller read the
    member in this request); otherwise only during the visit the customer's member code opened."""
    if partner.is_first_party and not member.require_code:
        return True
    return PartnerMember.objects.filter(
        partner=partner, member_id=member.pk, visit_until__gt=now or timezone.now()
    ).exists()


def partner_purchases(partner: Partner) -> QuerySet[Purchase]:
    """Purchases it posted."""
    return Purchase.objects.filter(source=partner.source)


def partner_stores(partner: Partner) -> QuerySet[Store]:
    return partner.stores.filter(is_active=True)
