"""Reads scoped to one partner: the one place that decides what a partner may see."""

from __future__ import annotations

from django.db.models import QuerySet

from members.models import Member, Purchase, Store
from members.partners.models import Partner


def partner_members(partner: Partner) -> QuerySet[Member]:
    """Members it enrolled or found by an identity (see ``PartnerMember``)."""
    return Member.objects.filter(partner_links__partner=partner)


def partner_purchases(partner: Partner) -> QuerySet[Purchase]:
    """Purchases it posted."""
    return Purchase.objects.filter(source=partner.source)


def partner_stores(partner: Partner) -> QuerySet[Store]:
    return partner.stores.filter(is_active=True)
