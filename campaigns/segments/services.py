"""Writing segments: the stored count, and the tags rules keep equal to segments."""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone

from campaigns.segments.models import Segment, TagRule
from campaigns.segments.selectors import segment_members
from members.tagging import tag_members, untag_members_except


def segment_count(segment: Segment, *, now: datetime.datetime | None = None) -> int:
    """Count the segment's members now and keep the count on the segment for the lists."""
    now = now or timezone.now()
    count = segment_members(segment, now=now).count()
    Segment.objects.filter(pk=segment.pk).update(member_count=count, counted_at=now)
    segment.member_count, segment.counted_at = count, now
    return count


def tag_rule_apply(rule: TagRule, *, now: datetime.datetime | None = None) -> tuple[int, int]:
    """Make the rule's tag equal to its segment now: (tagged, untagged)."""
    now = now or timezone.now()
    members = segment_members(rule.segment, now=now)
    with transaction.atomic():
        added = tag_members(rule.tag, members)
        removed = untag_members_except(rule.tag, members)
        TagRule.objects.filter(pk=rule.pk).update(last_run_at=now, last_added=added, last_removed=removed)
    return added, removed


def tag_rules_apply(*, now: datetime.datetime | None = None) -> int:
    """Every active rule, each in its own transaction; returns how many ran."""
    rules = list(TagRule.objects.filter(is_active=True).select_related("tag", "segment").order_by("pk"))
    for rule in rules:
        tag_rule_apply(rule, now=now)
    return len(rules)
