"""Writing segments: static lists (filled from an uploaded file or saved from a page), the stored
count, and the tags rules keep equal to segments."""

from __future__ import annotations

import datetime
from collections.abc import Collection
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.segments.models import Segment, SegmentMember, TagRule
from campaigns.segments.selectors import segment_members
from members.models import Member
from members.tagging import tag_members, untag_members_except

_LISTED = SegmentMember._meta.db_table


def segment_members_add(*, segment: Segment, member_ids: Collection[int], actor: Any = None) -> set[int]:
    """Put members on a static segment's list; those already on it stay as they are (a file
    uploaded twice adds nothing twice). Returns the ids of the members added. The stored count
    grows by the active ones among them: an increment, so two uploads at once count each other
    without a lock (a recount, ``segment_count``, would not see the other's rows before it commits)."""
    if segment.kind != Segment.Kind.STATIC:
        raise ValidationError(
            {"segment": _("Only a static segment holds a list of members.")}, code="not_static"
        )
    ids = sorted(set(member_ids))
    if not ids:
        return set()
    now = timezone.now()
    params: list[Any]
    if connection.vendor == "postgresql":
        wanted, params = "= ANY(%s)", [ids]
    else:  # SQLite (``make run``) has no arrays
        wanted, params = f"IN ({', '.join(['%s'] * len(ids))})", list(ids)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {connection.ops.quote_name(_LISTED)} (segment_id, member_id, added_at) "
            f"SELECT %s, m.id, %s FROM {connection.ops.quote_name(Member._meta.db_table)} m "
            f"WHERE m.id {wanted} ON CONFLICT (segment_id, member_id) DO NOTHING RETURNING member_id",
            [segment.pk, now, *params],
        )
        added = {row[0] for row in cursor.fetchall()}
        active = Member.objects.filter(pk__in=added, status=Member.Status.ACTIVE).count() if added else 0
        if active:
            Segment.objects.filter(pk=segment.pk).update(
                member_count=Coalesce(F("member_count"), Value(0)) + active, counted_at=now
            )
    return added


def segment_static_create(
    *, name: str, members: QuerySet[Member], actor: Any = None, description: str = ""
) -> Segment:
    """A static segment holding exactly ``members`` (a query, e.g. a page's list as it is
    filtered): written by one INSERT … SELECT, whatever the number, so a million members never
    pass through Python."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("Give the segment a name.")}, code="required")
    if Segment.objects.filter(name=name).exists():
        raise ValidationError({"name": _("A segment with this name exists already.")}, code="unique")
    select, params = members.order_by().values("pk").query.sql_with_params()
    now = timezone.now()
    with transaction.atomic():
        segment = Segment(name=name, description=description, kind=Segment.Kind.STATIC)
        segment.created_by = actor if getattr(actor, "pk", None) else None
        segment._history_user = segment.created_by
        segment.save()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {connection.ops.quote_name(_LISTED)} (segment_id, member_id, added_at) "
                # a query over several tables may name a member twice: the list keeps one
                f"SELECT DISTINCT %s, m.pk, %s FROM ({select}) m",
                [segment.pk, now, *params],
            )
        segment_count(segment, now=now)
    return segment


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
