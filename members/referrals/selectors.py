"""Reads of referrals: a member's referrer and referees."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from members.models import Member
from members.referrals.models import MemberDevice, MemberIp, Referral, ReferralCode


def referees_of(referrer: Member) -> QuerySet[Referral]:
    """The referrals the member made, newest first, with their referees."""
    return Referral.objects.filter(referrer=referrer).select_related("referee").order_by("-created_at", "-id")


def referral_of(member: Member) -> Referral | None:
    """Who referred the member (their referral), or None."""
    return Referral.objects.select_related("referrer").filter(referee=member).first()


def referrals_personal_data(member: Member) -> list[dict[str, Any]]:
    """PIPL: the member's code, who referred them (with the device), whom they referred, their
    devices: one row each."""
    rows: list[dict[str, Any]] = []
    for code, created_at in ReferralCode.objects.filter(member=member).values_list("code", "created_at"):
        rows.append({"what": "referral_code", "code": code, "created_at": created_at})
    for referral in Referral.objects.filter(referee=member).select_related("referrer"):
        rows.append(
            {
                "what": "referred_by",
                "member_number": referral.referrer.member_number,
                "code": referral.code,
                "device_id": referral.device_id,
                "created_at": referral.created_at,
            }
        )
    for number, created_at in referees_of(member).values_list("referee__member_number", "created_at"):
        rows.append({"what": "referred", "member_number": number, "created_at": created_at})
    for device_id, created_at in MemberDevice.objects.filter(member=member).values_list(
        "device_id", "created_at"
    ):
        rows.append({"what": "device", "device_id": device_id, "created_at": created_at})
    for ip, created_at in MemberIp.objects.filter(member=member).values_list("ip", "created_at"):
        rows.append({"what": "ip", "ip": ip, "created_at": created_at})
    return rows
