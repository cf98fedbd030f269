"""Writing segments: the stored count."""

from __future__ import annotations

import datetime

from django.utils import timezone

from campaigns.segments.models import Segment
from campaigns.segments.selectors import segment_members


def segment_count(segment: Segment, *, now: datetime.datetime | None = None) -> int:
    """Count the segment's members now and keep the count on the segment for the lists."""
    now = now or timezone.now()
    count = segment_members(segment, now=now).count()
    Segment.objects.filter(pk=segment.pk).update(member_count=count, counted_at=now)
    segment.member_count, segment.counted_at = count, now
    return count
