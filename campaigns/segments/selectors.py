"""Reading segments: who is in one now."""

from __future__ import annotations

import datetime
from collections.abc import Collection, Iterable
from itertools import groupby

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from campaigns.segments.conditions import condition_q
from campaigns.segments.models import Condition, Logic, Segment, SegmentMember
from members.models import Member


def conditions_q(
    conditions: Iterable[Condition], *, groups_logic: str, conditions_logic: str, now: datetime.datetime
) -> Q | None:
    """The filter of a set of conditions (saved or not), or None when there are none."""
    groups = []
    for _number, rows in groupby(sorted(conditions, key=lambda c: c.group), key=lambda c: c.group):
        groups.append(_combine([condition_q(c, now) for c in rows], conditions_logic))
    return _combine(groups, groups_logic) if groups else None


def _combine(parts: list[Q], logic: str) -> Q:
    combined = parts[0]
    for part in parts[1:]:
        combined = combined & part if logic == Logic.ALL else combined | part
    return combined


def conditions_members(
    conditions: Iterable[Condition],
    *,
    groups_logic: str,
    conditions_logic: str,
    now: datetime.datetime | None = None,
) -> QuerySet[Member]:
    """Active members who match: none when there are no conditions (a segment of everyone is
    made on purpose, with a condition, not by forgetting one)."""
    q = conditions_q(
        conditions, groups_logic=groups_logic, conditions_logic=conditions_logic, now=now or timezone.now()
    )
    if q is None:
        return Member.objects.none()
    return Member.objects.filter(q, status=Member.Status.ACTIVE)


def segment_members(
    segment: Segment, *, now: datetime.datetime | None = None, conditions: Iterable[Condition] | None = None
) -> QuerySet[Member]:
    """The segment's active members now. Frozen and closed members are in no segment: nothing a
    segment is for (messages, coupons, points) may reach them. ``conditions``: the segment's own,
    already read (the rule book keeps them)."""
    if segment.kind == Segment.Kind.STATIC:
        listed = SegmentMember.objects.filter(segment=segment, member=OuterRef("pk"))
        return Member.objects.filter(Exists(listed), status=Member.Status.ACTIVE)
    return conditions_members(
        segment.conditions.select_related("tier") if conditions is None else conditions,
        groups_logic=segment.groups_logic,
        conditions_logic=segment.conditions_logic,
        now=now,
    )


def segments_with_conditions() -> QuerySet[Segment]:
    """Segments with their conditions (and the conditions' tiers) read along, for evaluating many times."""
    return Segment.objects.prefetch_related(
        Prefetch("conditions", Condition.objects.select_related("tier").order_by("group", "pk"))
    )


def members_segments(
    segments: Iterable[Segment], member_ids: Collection[int], *, at: datetime.datetime
) -> dict[int, set[int]]:
    """Member id -> the ids of ``segments`` each of ``member_ids`` is in at ``at``: one query per
    segment, over these members only (``segments``: from ``segments_with_conditions``). A static
    segment is its list as it stands; a dynamic one its conditions as of ``at`` (windows end there)."""
    found: dict[int, set[int]] = {}
    if not member_ids:
        return found
    for segment in segments:
        conditions = list(segment.conditions.all())
        members = segment_members(segment, now=at, conditions=conditions).filter(pk__in=list(member_ids))
        for pk in members.values_list("pk", flat=True):
            found.setdefault(pk, set()).add(segment.pk)
    return found
