"""Partner API: a member's household, as the brand's app shows it to the member (wired under
/api/v1/ by config/api.py)."""

from __future__ import annotations

import dataclasses

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from members.partners.api.serializers import EnumField
from members.partners.api.views import PartnerAPIView
from members.partners.models import Grant
from points.households.models import Household, HouseholdMembership
from points.households.selectors import household_summary


class HouseholdSerializer(serializers.Serializer):
    name = serializers.CharField()
    role = EnumField("HouseholdRoleEnum", choices=HouseholdMembership.Role.choices)
    pool_spenders = EnumField(
        "PoolSpendersEnum", choices=Household.Spenders.choices, help_text="Who may spend the pool."
    )
    monthly_cap = serializers.IntegerField(help_text="Pool points one member may draw a month; 0 = no cap.")
    on_leave = EnumField(
        "HouseholdOnLeaveEnum", choices=Household.OnLeave.choices, help_text="What leaving settles."
    )
    may_spend_pool = serializers.BooleanField(help_text="A redemption by this member draws on the pool.")
    pool_available = serializers.IntegerField(
        help_text="The other members' spendable points (0 when this member may not spend the pool)."
    )
    drawn_this_month = serializers.IntegerField(help_text="Pool points this member drew this month.")
    cap_left = serializers.IntegerField(allow_null=True, help_text="Null when there is no cap.")


class MemberHouseholdSerializer(serializers.Serializer):
    member_number = serializers.CharField()
    household = HouseholdSerializer(allow_null=True, help_text="Null when the member is in no household.")


class HouseholdView(PartnerAPIView):
    """The member's household (家庭账户): its rules and what its pool lets the member spend; the
    other members are not named."""

    grant = Grant.POINTS_READ

    @extend_schema(summary="A member's household", responses=MemberHouseholdSerializer)
    def get(self, request, member_number: str):
        member = self.member(member_number)
        summary = household_summary(member)
        household = HouseholdSerializer(dataclasses.asdict(summary)).data if summary else None
        return Response({"member_number": member.member_number, "household": household})


urlpatterns = [
    path("members/<str:member_number>/household/", HouseholdView.as_view(), name="api-member-household"),
]
