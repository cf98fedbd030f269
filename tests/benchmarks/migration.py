"""Moving in from an old CRM at scale: a generated export of N members (tests/fixtures/old_crm.py:
members, points lots, tiers, outstanding coupons) through the imports, on PostgreSQL.

    DEBUG=1 .venv/bin/python tests/pgcluster.py -- .venv/bin/python tests/benchmarks/migration.py \
        [--members 100000] [--seed 1]

(or DATABASE_URL=postgres://... on an empty database; the script migrates it itself.)

For each file, side by side in one run:
(a) floor: psycopg's ``COPY ... FROM STDIN (FORMAT csv, HEADER, ENCODING 'GB18030')`` of the file
    into a table of its columns, all ``text``, no index: reading the rows, nothing decided;
(b) ours: ``import_preview`` (read, parse, judge, stage: the dry run) then ``import_confirm`` and
    ``import_run_execute`` (post the lots, tiers and coupons), and the same file again (a second
    run, which must add nothing).

Checks (asserted, the must-show of the migration): each run's report balances; the points held
equal the file's good lots to the point, the growth the file's qualifying values, the coupons and
tiers their rows; the second run of each file posts nothing; ``ledger_problems() == {}``.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime
import io
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere
# isort: off
from tests.benchmarks.common import say, sql, table  # sets Django up

# isort: on
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from benefits.models import Benefit, Coupon
from members.imports.legacy import reconciliation
from members.imports.models import ImportProfile, ImportRun
from members.imports.runner import import_confirm, import_run_execute
from members.imports.services import import_preview
from points.models import Account, Entry
from points.selectors import ledger_problems
from tests.fixtures.old_crm import (
    BALANCES_HEADER,
    COUPONS_HEADER,
    MEMBERS_HEADER,
    TIERS_HEADER,
    old_crm_export,
)
from tiers.models import Tier, TierChange

HEADERS = {
    "members": MEMBERS_HEADER,
    "balances": BALANCES_HEADER,
    "tiers": TIERS_HEADER,
    "coupons": COUPONS_HEADER,
}
PROFILES = {
    "members": "members",
    "balances": "migration_balances",
    "tiers": "migration_tiers",
    "coupons": "migration_coupons",
}


def floor(name: str, data: bytes) -> float:
    """COPY the file into a table of text columns; seconds."""
    columns = ", ".join(f"c{i} text" for i in range(len(HEADERS[name])))
    sql(f"DROP TABLE IF EXISTS bench_copy_{name}")
    sql(f"CREATE TABLE bench_copy_{name} ({columns})")
    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        copy = f"COPY bench_copy_{name} FROM STDIN (FORMAT csv, HEADER, ENCODING 'GB18030')"
        with cursor.copy(copy) as out:
            stream = io.BytesIO(data)
            while block := stream.read(1 << 20):
                out.write(block)
    return time.perf_counter() - start


def ours(name: str, data: bytes) -> tuple[ImportRun, float, float]:
    """(run, preview seconds, job seconds)."""
    start = time.perf_counter()
    run = import_preview(
        profile=ImportProfile.objects.get(code=PROFILES[name]), data=data, file_name=f"old_crm_{name}.csv"
    )
    previewed = time.perf_counter()
    import_confirm(run=run, start=False)
    run = import_run_execute(run.pk, chunk_size=2000)
    return run, previewed - start, time.perf_counter() - previewed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", choices=list(PROFILES), help="cProfile the first run of this file")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    Tier.objects.get_or_create(code="silver", defaults={"rank": 1, "name": "银卡", "threshold": 1000})
    Tier.objects.get_or_create(code="gold", defaults={"rank": 2, "name": "金卡", "threshold": 5000})
    Benefit.objects.get_or_create(name="满100减10", defaults={"kind": Benefit.Kind.AMOUNT_OFF, "value": 10})
    say(f"generating an old CRM's export of {args.members:,} members")
    export = old_crm_export(args.members, seed=args.seed, today=timezone.localdate())
    expected = export.expected
    rows = []
    for name, data in export.files().items():
        copy = floor(name, data)
        say(f"{name}: {export.rows[name]:,} rows, importing")
        profiler = cProfile.Profile() if args.profile == name else None
        with profiler or contextlib.nullcontext():
            run, preview, job = ours(name, data)
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(r"/work/main/(?!\.venv)", 25)
        again, preview2, job2 = ours(name, data)
        count = export.rows[name]
        assert run.rows_rejected == 0, (name, run.rows_rejected)
        if name != "members":
            report, second = reconciliation(run), reconciliation(again)
            assert report.balanced and second.balanced, (name, report, second)
            assert all(line.posted == 0 for line in second.lines), (name, second)
        else:
            assert again.members_created == 0
        rows.append(
            [
                name,
                f"{count:,}",
                f"{copy:.2f}",
                f"{preview:.1f}",
                f"{job:.1f}",
                f"{count / (preview + job):,.0f}",
                f"{(preview + job) / copy:,.0f}×",
                f"{preview2 + job2:.1f}",
            ]
        )
    held = Account.objects.filter(point_type__code="points").aggregate(n=Sum("available"))["n"]
    assert held == expected.points_good, (held, expected.points_good)
    growth = Entry.objects.filter(kind=Entry.Kind.OPENING, account__point_type__code="growth")
    assert growth.aggregate(n=Sum("amount"))["n"] == expected.growth_good
    assert Coupon.objects.filter(origin=Coupon.Origin.MIGRATION).count() == expected.coupons_good
    assert TierChange.objects.filter(reason=TierChange.Reason.MIGRATION).count() == expected.tiers_good
    assert ledger_problems() == {}
    print(f"\nOld CRM of {args.members:,} members ({datetime.date.today()}); every check passed:")
    print(
        f"  points {expected.points_good:,} in {expected.lots_good:,} lots, growth {expected.growth_good:,},"
    )
    print(f"  {expected.tiers_good:,} tiers, {expected.coupons_good:,} coupons; reports balanced;")
    print("  the second run of each file added nothing\n")
    table(
        ["file", "rows", "COPY s", "preview s", "job s", "ours rows/s", "ours/COPY", "second run s"],
        rows,
    )


if __name__ == "__main__":
    main()
