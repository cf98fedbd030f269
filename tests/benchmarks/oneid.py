"""The nightly duplicate search at scale: each signal of ``members.oneid.candidates`` against the
same question in plain SQL (the floor), and the naive way (every member's keys read into Python).

    DEBUG=1 DATABASE_URL=postgres://... .venv/bin/python tests/benchmarks/oneid.py [--repeat 3]

On a database seeded by ``manage.py seed_scale`` (a million members, two million ids). Reads only;
the last step runs ``duplicates_find`` itself (it writes the pairs it finds, once).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

# isort: off
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere
from tests.benchmarks.common import say, sql, table  # sets Django up

from members.models import Identity, Member
from members.oneid import candidates

FLOOR = {
    "_same_unionid": """
        SELECT value, array_agg(DISTINCT member_id) FROM members_identity WHERE kind = 'unionid'
        GROUP BY value HAVING count(DISTINCT member_id) BETWEEN 2 AND 5""",
    "_same_card": """
        SELECT k, array_agg(DISTINCT member_id) FROM (
            SELECT ltrim(regexp_replace(upper(value), '[ _-]', '', 'g'), '0') AS k, member_id
            FROM members_identity WHERE kind = 'card') c
        GROUP BY k HAVING count(DISTINCT member_id) BETWEEN 2 AND 5""",
    "_phone_elsewhere": """
        SELECT '+86' || right(i.value, 11), i.member_id, p.member_id FROM members_identity i
        JOIN members_identity p
          ON p.kind = 'phone' AND p.namespace = '' AND p.value = '+86' || right(i.value, 11)
        WHERE i.kind <> 'phone' AND i.value ~ '^(\\+?86)?1[3-9][0-9]{9}$' AND p.member_id <> i.member_id""",
    "_same_person": """
        SELECT name, birthday, city, array_agg(id) FROM members_member
        WHERE status = 'active' AND birthday IS NOT NULL AND name <> '' AND city <> ''
        GROUP BY name, birthday, city HAVING count(*) BETWEEN 2 AND 5""",
}


def naive_cards() -> int:
    """Every card into Python, normalised and grouped there."""
    groups: dict[str, set[int]] = defaultdict(set)
    for value, member in Identity.objects.filter(kind=Identity.Kind.CARD).values_list("value", "member_id"):
        groups[value.upper().replace(" ", "").replace("-", "").replace("_", "").lstrip("0")].add(member)
    return sum(1 for ids in groups.values() if 1 < len(ids) <= candidates.MAX_GROUP)


def naive_people() -> int:
    groups: dict[tuple, set[int]] = defaultdict(set)
    rows = Member.objects.filter(status="active", birthday__isnull=False).values_list(
        "name", "birthday", "city", "pk"
    )
    for name, birthday, city, pk in rows:
        if name and city:
            groups[(name, birthday, city)].add(pk)
    return sum(1 for ids in groups.values() if 1 < len(ids) <= candidates.MAX_GROUP)


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    say(f"{Member.objects.count():,} members, {Identity.objects.count():,} ids; median of {args.repeat}")
    naive = {"_same_card": naive_cards, "_same_person": naive_people}
    rows = []
    for name, floor in FLOOR.items():
        ours, found = timed(lambda name=name: getattr(candidates, name)(None), args.repeat)
        plain, floor_rows = timed(lambda floor=floor: sql(floor), args.repeat)
        slow = f"{timed(naive[name], 1)[0]:.1f}" if name in naive else "—"
        rows.append(
            [
                name,
                f"{len(found):,}",
                f"{len(floor_rows):,}",
                f"{ours:.1f}",
                f"{plain:.1f}",
                f"{ours / plain:.1f}×",
                slow,
            ]
        )
    table(["signal", "groups (ours)", "(floor)", "ours s", "floor s", "ours ÷ floor", "naive s"], rows)
    start = time.perf_counter()
    new = candidates.duplicates_find()
    say(f"duplicates_find (all four, pairs written): {new:,} new pairs in {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    main()
