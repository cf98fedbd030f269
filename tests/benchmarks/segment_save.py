"""Saving a static segment at a million members: the RFM page's "save as segment" and an upload's add.

    DEBUG=1 .venv/bin/python tests/pgcluster.py -- .venv/bin/python tests/benchmarks/segment_save.py \
        [--members 1000000]

(or DATABASE_URL=postgres://... on an empty database; the script migrates it itself.)

Set-up, not timed: --members members and a score row each, written by SQL from one member made by
the ORM (member numbers distinct; a ninth of them in each RFM segment), then ANALYZE. Timed:
``segment_static_create`` over one RFM segment's members (the page's button, a ninth of them)
and over every scored member; ``segment_members_add`` of a chunk of 500 (an upload's chunk)
to a list of a million, twice (the second adds nothing). Each result is checked by count.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# isort: off
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere
from tests.benchmarks.common import say, sql  # sets Django up

from django.core.management import call_command
from django.db import connection
from django.db.models import Exists, OuterRef

from campaigns.segments.models import SegmentMember
from campaigns.segments.services import segment_count, segment_members_add, segment_static_create
from members.models import Member
from members.scoring.models import MemberScore, Segment
from tests.factories import MemberFactory

# isort: on


def copy_rows(model, template_pk: int, n: int, overrides: dict[str, str]) -> None:
    """``n`` copies of one row of ``model`` (its primary key ``template_pk``), some columns computed
    from g = 1..n."""
    columns = [
        f.column for f in model._meta.concrete_fields if not (f.primary_key and f.column not in overrides)
    ]
    table = model._meta.db_table
    select = ", ".join(overrides.get(c, f"t.{c}") for c in columns)
    pk = model._meta.pk.column
    sql(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select} "
        f"FROM {table} t CROSS JOIN generate_series(1, {n}) g WHERE t.{pk} = {template_pk}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Run this against PostgreSQL.")
    call_command("migrate", verbosity=0)
    if Member.objects.exists():
        sys.exit("Run this on an empty database.")
    template = MemberFactory()
    started = time.perf_counter()
    copy_rows(
        Member,
        template.pk,
        args.members - 1,
        {"member_number": "'B' || lpad(g::text, 11, '0')", "mobile": "NULL"},
    )
    segments = [s.value for s in Segment]
    cases = " ".join(f"WHEN {i} THEN '{value}'" for i, value in enumerate(segments))
    sql(
        "INSERT INTO scoring_memberscore "
        "(member_id, frequency, monetary, r, f, m, segment, previous_segment, stage) "
        f"SELECT id, 1, 100, 3, 3, 3, CASE id % {len(segments)} {cases} END, '', 'active' FROM members_member"
    )
    sql("ANALYZE")
    say(f"set-up: {args.members:,} members and scores in {time.perf_counter() - started:.1f}s")

    def timed(label: str, fn, expected: int) -> None:
        started = time.perf_counter()
        got = fn()
        seconds = time.perf_counter() - started
        say(f"{label}: {seconds:.2f}s")
        assert got == expected, (label, got, expected)

    value = Segment.IMPORTANT_VALUE
    one = MemberScore.objects.filter(segment=value).count()
    scored = Member.objects.filter(Exists(MemberScore.objects.filter(member=OuterRef("pk"), segment=value)))
    timed(
        f"save one RFM segment's list ({one:,} members)",
        lambda: segment_static_create(name="RFM 重要价值", members=scored).member_count,
        one,
    )
    everyone = Member.objects.filter(Exists(MemberScore.objects.filter(member=OuterRef("pk"))))
    big = None

    def save_all() -> int:
        nonlocal big
        big = segment_static_create(name="全部", members=everyone)
        return big.member_count or 0

    timed(f"save every scored member ({args.members:,})", save_all, args.members)
    assert big is not None
    timed(
        f"of which: counting a list of {args.members:,} (segment_count)",
        lambda: segment_count(big),
        args.members,
    )
    chunk = list(Member.objects.order_by("?").values_list("pk", flat=True)[:500])
    assert big is not None
    timed(
        "add an upload's chunk of 500 already on the list",
        lambda: len(segment_members_add(segment=big, member_ids=chunk)),
        0,
    )
    SegmentMember.objects.filter(segment=big, member_id__in=chunk).delete()
    timed(
        "add an upload's chunk of 500 new to the list",
        lambda: len(segment_members_add(segment=big, member_ids=chunk)),
        500,
    )


if __name__ == "__main__":
    main()
