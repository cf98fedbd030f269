"""Static segments filled from an uploaded file: the import framework (members, below us) reads
the file, names each row's member and stages it; it hands the members to this target, which it
finds in ``members.imports.targets.TARGETS`` (registered in ``apps.py``)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.utils.translation import gettext_lazy as _

from campaigns.segments.models import Segment, SegmentMember
from campaigns.segments.services import segment_members_add
from members.imports.targets import Target


def _choices(user: Any) -> list[tuple[int, str]]:
    """The static segments a user may fill (the command line: every one)."""
    if user is not None and not user.has_perm("segments.change_segment"):
        return []
    return list(Segment.objects.filter(kind=Segment.Kind.STATIC).order_by("name").values_list("pk", "name"))


def _name(segment_id: int) -> str:
    return Segment.objects.filter(pk=segment_id).values_list("name", flat=True).first() or f"#{segment_id}"


def _present(segment_id: int, member_ids: Collection[int]) -> set[int]:
    listed = SegmentMember.objects.filter(segment_id=segment_id, member_id__in=list(member_ids))
    return set(listed.values_list("member_id", flat=True))


def _add(segment_id: int, member_ids: Collection[int], actor: Any) -> set[int]:
    return segment_members_add(segment=Segment.objects.get(pk=segment_id), member_ids=member_ids, actor=actor)


SEGMENT_TARGET = Target(label=_("Static segment"), choices=_choices, name=_name, present=_present, add=_add)
