"""Tagging many members at once: set-based, one statement each, whatever the number of members.

One member's tags are edited through ``services.member_set_tags`` (with a version in the
member's history); these write the tag links only, and the caller records the run (a tag rule's
run, a bulk action's log entry): a nightly rule touching 100,000 members must not write 100,000
member versions.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet

from members.models import Member, Tag

_LINKS = Member.tags.through


def tag_members(tag: Tag, members: QuerySet[Member]) -> int:
    """Give ``tag`` to every member of ``members`` without it; returns how many got it."""
    select, params = members.order_by().values("pk").query.sql_with_params()  # the column is "pk"
    table = connection.ops.quote_name(_LINKS._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (member_id, tag_id) SELECT m.pk, %s FROM ({select}) m "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.member_id = m.pk AND t.tag_id = %s) "
            "ON CONFLICT DO NOTHING",
            [tag.pk, *params, tag.pk],
        )
        return max(cursor.rowcount, 0)


def untag_members_except(tag: Tag, keep: QuerySet[Member]) -> int:
    """Take ``tag`` from every member who has it and is not in ``keep``; returns how many."""
    deleted, _ = (
        _LINKS.objects.filter(tag=tag).exclude(Exists(keep.filter(pk=OuterRef("member_id")))).delete()
    )
    return deleted
