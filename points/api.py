"""Partner API endpoints of the points app (wired under /api/v1/ by config/api.py): a member's
balances and their ledger history."""

from __future__ import annotations

from typing import Any

import django_filters
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from members.models import Member
from members.partners.api.filters import DateTimeFilter
from members.partners.api.serializers import EnumField
from members.partners.api.views import PartnerAPIView, PartnerGenericView
from members.partners.models import Grant
from points.models import Entry, PointType, Source
from points.selectors import member_balance_sheet, member_entries


class NextExpirySerializer(serializers.Serializer):
    amount = serializers.IntegerField(source="points", help_text="Points that expire on `date`.")
    date = serializers.DateField(source="last_day", help_text="The last day they can be spent (local).")
    expires_at = serializers.DateTimeField(help_text="The first instant the earliest of them is gone.")


class BalanceSerializer(serializers.Serializer):
    """One point type's balance of one member (zeros before their first entry of that type)."""

    point_type = serializers.CharField(source="point_type.code")
    name = serializers.CharField(source="point_type.name")
    redeemable = serializers.BooleanField(source="point_type.redeemable")
    available = serializers.IntegerField(help_text="Spendable now; negative while the member owes points.")
    pending = serializers.IntegerField(help_text="Earned, spendable once the return window ends.")
    earned = serializers.IntegerField(help_text="Lifetime.")
    spent = serializers.IntegerField(help_text="Lifetime.")
    expired = serializers.IntegerField(help_text="Lifetime.")
    next_expiry = NextExpirySerializer(allow_null=True, help_text="Null when nothing is due to expire.")


class BalancesSerializer(serializers.Serializer):
    member_number = serializers.CharField()
    balances = BalanceSerializer(many=True)


def balances_of(member: Member) -> list[dict[str, Any]]:
    """The member's balances as the API shows them (also returned after a redemption)."""
    # The stubs type Serializer(many=True) as the serializer itself, whose .data is one dict.
    return BalanceSerializer(member_balance_sheet(member), many=True).data  # type: ignore[return-value]


class EntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    point_type = serializers.CharField(source="account.point_type.code")
    kind = EnumField("EntryKindEnum", choices=Entry.Kind.choices)
    amount = serializers.IntegerField(help_text="Positive in, negative out.")
    balance_after = serializers.IntegerField(help_text="Available plus pending after this entry.")
    # DRF's metaclass takes declared fields off the class; the stubs see Field.source shadowed.
    source = EnumField("EntrySourceEnum", choices=Source.choices)  # type: ignore[assignment]
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class EntryFilter(django_filters.FilterSet):
    point_type = django_filters.ModelChoiceFilter(
        field_name="account__point_type", to_field_name="code", queryset=PointType.objects.all()
    )
    kind = django_filters.ChoiceFilter(choices=Entry.Kind.choices)
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Entry
        fields = ["point_type", "kind"]


class BalancesView(PartnerAPIView):
    grant = Grant.POINTS_READ

    @extend_schema(summary="A member's balances", responses=BalancesSerializer)
    def get(self, request, member_number: str):
        member = self.member(member_number)
        return Response({"member_number": member.member_number, "balances": balances_of(member)})


class LedgerView(PartnerGenericView):
    """A member's points entries, newest first."""

    grant = Grant.POINTS_READ
    serializer_class = EntrySerializer
    filterset_class = EntryFilter
    queryset = Entry.objects.none()  # for the schema; requests use scoped_queryset()

    def scoped_queryset(self):
        return member_entries(self.member(self.kwargs["member_number"]))

    @extend_schema(summary="A member's points history", responses=EntrySerializer(many=True))
    def get(self, request, member_number: str):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class PointTypeSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="As `point_type` in balances, ledger entries and awards.")
    name = serializers.CharField()
    redeemable = serializers.BooleanField(help_text="Can be spent on rewards (growth value cannot).")
    pending_days = serializers.IntegerField(help_text="Days earned points wait (the return window).")


class PointTypesView(PartnerAPIView):
    """The point types of the programme (points, growth value ...)."""

    grant = Grant.POINTS_READ

    @extend_schema(summary="The point types of the programme", responses=PointTypeSerializer(many=True))
    def get(self, request):
        return Response(PointTypeSerializer(PointType.objects.order_by("id"), many=True).data)


MEMBER = "members/<str:member_number>/"

urlpatterns = [
    path("point-types/", PointTypesView.as_view(), name="api-point-types"),
    path(f"{MEMBER}balances/", BalancesView.as_view(), name="api-member-balances"),
    path(f"{MEMBER}ledger/", LedgerView.as_view(), name="api-member-ledger"),
]
