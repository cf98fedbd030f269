"""Partner API endpoints of the tiers app (wired under /api/v1/ by config/api.py): a member's
tier and their progress towards the next one."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from members.partners.api.serializers import EnumField
from members.partners.api.views import PartnerAPIView
from members.partners.models import Grant
from tiers.models import Source, Tier, TierPolicy
from tiers.selectors import Progress, tier_progress


class TierRefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class NextTierSerializer(TierRefSerializer):
    threshold = serializers.IntegerField(help_text="The qualifying value it needs, in `unit`.")


class CurrentTierSerializer(serializers.Serializer):
    code = serializers.CharField(source="tier.code")
    name = serializers.CharField(source="tier.name")
    # DRF's metaclass takes declared fields off the class; the stubs see Field.source shadowed.
    source = EnumField(  # type: ignore[assignment]
        "TierSourceEnum", choices=Source.choices, help_text="Why the member has it."
    )
    since = serializers.DateTimeField()
    until = serializers.SerializerMethodField(
        help_text=(
            "Held at least until then: the end of the override or paid plan, or the review of the "
            "earned tier (kept if re-qualified). Null for the entry tier, which is never lost."
        )
    )

    def get_until(self, progress: Progress) -> str | None:
        if progress.source == Source.OVERRIDE:
            until = progress.override_until
        elif progress.source == Source.PLAN:
            until = progress.plan_until
        else:
            until = progress.review_at if progress.tier.rank > 0 else None
        return serializers.DateTimeField().to_representation(until) if until else None


class ProgressSerializer(serializers.Serializer):
    """Progress towards the next tier and towards keeping this one: the numbers, and the same in
    words for people."""

    # reads tiers.selectors.Progress

    metric = EnumField("TierMetricEnum", choices=TierPolicy.Metric.choices)
    unit = serializers.CharField(help_text="What the values count, in the request's language.")
    value = serializers.IntegerField(source="growth_in_window", help_text="Counts toward the next tier now.")
    period_value = serializers.IntegerField(
        source="growth_in_period", help_text="Counts toward keeping the earned tier at the review."
    )
    period_start = serializers.DateTimeField()
    earned_tier = TierRefSerializer()
    next_tier = NextTierSerializer(allow_null=True, help_text="Null at the top tier.")
    needed_for_next = serializers.IntegerField()
    keeps = serializers.BooleanField(
        help_text="Whether the earned tier is kept at the review as things stand."
    )
    review_tier = TierRefSerializer(help_text="The earned tier after the review if nothing more is earned.")
    needed_to_keep = serializers.IntegerField()
    review_at = serializers.DateTimeField(help_text="When the earned tier is reviewed (period end + grace).")
    deadline = serializers.DateField(help_text="The last day that counts for the review (local).")
    in_grace = serializers.BooleanField()
    next_step = serializers.CharField(help_text="For people, in the request's language.")
    outlook = serializers.CharField(help_text="For people, in the request's language.")
    held_by = serializers.CharField(help_text="How an override or plan tier is held; empty when earned.")


class MemberTierSerializer(serializers.Serializer):
    member_number = serializers.CharField()
    tier = CurrentTierSerializer(help_text="The tier the member has now.")
    progress = ProgressSerializer()


class MemberTierView(PartnerAPIView):
    grant = Grant.TIERS_READ

    @extend_schema(summary="A member's tier and progress", responses=MemberTierSerializer)
    def get(self, request, member_number: str):
        member = self.member(member_number)
        progress = tier_progress(member)
        return Response(
            MemberTierSerializer(
                {"member_number": member.member_number, "tier": progress, "progress": progress}
            ).data
        )


class TierSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    rank = serializers.IntegerField(help_text="0 is the entry tier; higher is better.")
    threshold = serializers.IntegerField(
        help_text="The qualifying value it needs (see a member's `progress.unit`)."
    )
    earn_multiplier = serializers.DecimalField(
        max_digits=4, decimal_places=2, help_text="Base points are multiplied by this at this tier."
    )
    description = serializers.CharField()


class TiersView(PartnerAPIView):
    """The tier ladder, entry tier first."""

    grant = Grant.TIERS_READ

    @extend_schema(summary="The tiers of the programme", responses=TierSerializer(many=True))
    def get(self, request):
        return Response(TierSerializer(Tier.objects.order_by("rank"), many=True).data)


urlpatterns = [
    path("tiers/", TiersView.as_view(), name="api-tiers"),
    path("members/<str:member_number>/tier/", MemberTierView.as_view(), name="api-member-tier"),
]
