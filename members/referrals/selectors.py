"""Reads of referrals: a member's referrer and referees."""

from __future__ import annotations

from django.db.models import QuerySet

from members.models import Member
from members.referrals.models import Referral


def referees_of(referrer: Member) -> QuerySet[Referral]:
    """The referrals the member made, newest first, with their referees."""
    return Referral.objects.filter(referrer=referrer).select_related("referee").order_by("-created_at", "-id")


def referral_of(member: Member) -> Referral | None:
    """Who referred the member (their referral), or None."""
    return Referral.objects.select_related("referrer").filter(referee=member).first()
