"""A member merge's campaign records (``members.oneid``): awards and their lines (so a refund
of an absorbed member's purchase finds what it earned, and campaign caps count the person
once), participations, held awards and segment memberships become the survivor's."""

from __future__ import annotations

from typing import Any

from campaigns.models import Award, AwardLine, AwardReview, Participation
from campaigns.segments.models import SegmentMember


def campaigns_merge(merge: Any) -> None:
    absorbed, survivor = merge.absorbed, merge.survivor
    merge.note("awards", Award.objects.filter(member=absorbed).update(member=survivor))
    AwardLine.objects.filter(member=absorbed).update(member=survivor)
    AwardReview.objects.filter(member=absorbed).update(member=survivor)
    ours = Participation.objects.filter(member=survivor).values("campaign_id")
    Participation.objects.filter(member=absorbed, campaign_id__in=ours).delete()
    Participation.objects.filter(member=absorbed).update(member=survivor)
    in_both = SegmentMember.objects.filter(member=survivor).values("segment_id")
    SegmentMember.objects.filter(member=absorbed, segment_id__in=in_both).delete()
    merge.note("segments", SegmentMember.objects.filter(member=absorbed).update(member=survivor))
