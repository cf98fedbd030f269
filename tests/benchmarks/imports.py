"""POS import end to end vs a plain COPY of the same file and a plain django-import-export import, on
PostgreSQL.

    DEBUG=1 .venv/bin/python tests/pgcluster.py -- .venv/bin/python tests/benchmarks/imports.py \
        [--rows 1000000] [--members 200000] [--stores 300] [--plain-rows 20000] [--ours-rows N]

(or DATABASE_URL=postgres://... on an empty database; the script migrates it itself.)

The file: ``python -m tests.fixtures.exports pos --rows R --members M --stores S --seed K`` (GBK CSV,
Chinese headers, 3% returns, a trailing 合计 row), written to a temporary directory.

Set-up, not timed: the stores S0000…, one live campaign (双倍积分: double points on every purchase
of 2026), the migrations' base rules (1 point and 1 growth per CNY). Members: most already exist,
as in a running programme: all but --new-members-pct of the M people the generator draws from are
enrolled beforehand (bulk_create) with their card (VIP…) and, when it is a valid mobile number, their
phone; the import matches them and enrols the rest. Points accounts and tier rows are created by
the earning pipeline on first need, as for a member enrolled through ``member_enrol``.

(a) floor: psycopg's ``COPY bench_copy FROM STDIN (FORMAT csv, HEADER, ENCODING 'GBK')`` of the
    whole file, streamed in 1 MiB blocks, into an ordinary (logged) table of the file's 11 columns,
    all ``text``, no index, in one transaction;
(b) plain django-import-export: a ModelResource over a model of the same 11 columns (CharFields,
    one table with a bigserial id, no other index), defaults (no ``import_id_fields``, so no look-up,
    one INSERT per row, one transaction), ``import_data(dataset, dry_run=False)`` on the first
    --plain-rows rows, timed from the bytes to the commit (decoding and tablib loading included);
(c) ours: ``import_preview`` (read, parse, judge, stage) + ``import_confirm(start=False)`` +
    ``import_run_execute`` (members, purchases, refunds, points, balances) on the file. With
    --ours-rows N < --rows, end to end on the first N rows as a sample, and the preview alone on the
    whole file (then cancelled): the time for the whole file is that preview's plus the sample's
    job time scaled linearly. Each runs in a child process (this script with --child), so that its
    peak RSS (VmHWM) is its own.

Checks (asserted): COPY loaded every row of the file and the plain import its --plain-rows rows;
ours created one purchase per sale and one refund per return not rejected, with the file's amounts,
times and members (joined with the COPY table); an award per purchase and refund; purchase awards
worth 2 points (base + double) and 1 growth per whole CNY; entries == award lines per point type;
``ledger_problems() == {}``. Last, --profile-rows rows of the file again (receipt numbers prefixed,
so they are new) through ours under cProfile. Query logging is off (DEBUG=1 only spares us a
SECRET_KEY); queries are counted by an execute wrapper.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import csv
import io
import itertools
import json
import logging
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

# isort: off
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere
from tests.benchmarks.common import local, profile_top, say, sql, statement_kind, stopwatch, table
from tests.benchmarks.imports_baselines import COPY_TABLE, PLAIN_TABLE, copy_file, create_tables, plain_import
from tests.benchmarks.imports_report import report
from tests.fixtures import exports
# isort: on

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection, models

from campaigns.models import Award, Campaign
from members.imports import apply, runner
from members.imports.models import ImportProfile, ImportRow, ImportRun
from members.imports.profiles import parse_rows
from members.imports.services import import_cancel, import_preview, profile_of
from members.models import Channel, Identity, Member, Store
from members.phones import normalize_mobile
from members.purchases.models import Purchase, Refund
from points.selectors import ledger_problems

WORK_ENV = "BENCH_IMPORTS_WORK"  # the temporary directory: the files, and MEDIA_ROOT (ImportRun.file)
PROFILE = "pos_receipts_gbk"
SALE, RETURN = "销售", "退货"


# --- set-up --------------------------------------------------------------------------------


def set_up(*, members: int, stores: int, new_pct: int) -> dict[str, int]:
    """Stores, the live campaign, and the members enrolled beforehand with their identities (the
    generator's formulas give each member's card and phone)."""
    Store.objects.bulk_create(
        Store(code=exports.store_code(i), name=exports.store_name(i)) for i in range(stores)
    )
    Campaign.objects.create(code="bench-double", name="双倍积分", status=Campaign.Status.ACTIVE,
                            starts_at=local(2026, 1, 1), ends_at=local(2027, 1, 1), multiplier=Decimal(2),
                            priority=10)  # fmt: skip
    enrolled, phones = [], {}
    for i in range(members):
        if (i * new_pct) % 100 < new_pct:  # new_pct of every hundred, spread evenly: enrolled by the import
            continue
        enrolled.append(i)
        with contextlib.suppress(ValidationError):  # a mistyped phone (one member in 29): card only
            phones[i] = normalize_mobile(exports.member_phone(i))
    for start in range(0, len(enrolled), 20_000):
        batch = enrolled[start : start + 20_000]
        people = Member.objects.bulk_create(
            Member(member_number=f"B{i:011d}", mobile=phones.get(i), registration_channel=Channel.STORE)
            for i in batch
        )
        identities = [Identity(member=m, kind=Identity.Kind.CARD, value=exports.member_card(i))
                      for i, m in zip(batch, people, strict=True)]  # fmt: skip
        identities += [Identity(member=m, kind=Identity.Kind.PHONE, value=phones[i], is_primary_phone=True)
                       for i, m in zip(batch, people, strict=True) if i in phones]  # fmt: skip
        Identity.objects.bulk_create(identities, batch_size=10_000)
    return {"enrolled": len(enrolled), "with phone": len(phones), "new": members - len(enrolled)}


def head(path: Path, rows: int) -> bytes:
    """The header and the first ``rows`` rows of a file (no row spans lines: nothing is multi-line)."""
    with path.open("rb") as f:
        return b"".join(itertools.islice(f, rows + 1))


def kinds_in(data: bytes) -> Counter:
    """Rows per 交易类型 (the totals row counts as 合计)."""
    reader = csv.reader(io.StringIO(data.decode("gb18030"), newline=""))
    next(reader)
    return Counter(row[5] or row[0] for row in reader)


# --- (c) ours, in a child process ----------------------------------------------------------


class Clock:
    """An execute wrapper: queries and wall time inside cursor.execute, in all and per statement kind."""

    def __init__(self) -> None:
        self.queries, self.seconds = 0, 0.0
        self.kinds: dict[str, list[float]] = {}  # kind: [queries, seconds]

    def __call__(self, execute, sql_, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql_, params, many, context)
        finally:
            seconds = time.perf_counter() - start
            self.seconds += seconds
            self.queries += 1
            kind = self.kinds.setdefault(statement_kind(sql_), [0, 0.0])
            kind[0] += 1
            kind[1] += seconds


class Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: Counter = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages[re.sub(r"\d+", "#", record.getMessage())[:120]] += 1


def rss_mib(field: str = "VmRSS") -> float:
    """This process's resident memory now (VmRSS) or at its peak (VmHWM). Not ``ru_maxrss``: Linux
    carries that over from the parent through fork and exec, so a child would report our peak."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(f"{field}:")) / 1024


def child(path: Path, chunk_size: int, preview_only: bool) -> None:
    """Ours end to end on ``path`` (or its preview alone, then cancelled); prints a JSON line of measures."""
    warned = Warnings()
    logging.getLogger("members.imports").addHandler(warned)
    pipeline = [0.0]

    def timed(processor):
        def run(facts):
            start = time.perf_counter()
            try:
                return processor(facts)
            finally:
                pipeline[0] += time.perf_counter() - start

        return run

    apply.PROCESSORS[:] = [timed(processor) for processor in apply.PROCESSORS]
    profile = ImportProfile.objects.get(code=PROFILE)
    baseline = rss_mib()
    last, marks = [time.perf_counter(), 0], []

    def progress(run: ImportRun) -> None:  # a line every 30 s, for long runs
        marks.append((time.perf_counter(), run.rows_done))
        if time.perf_counter() - last[0] > 30:
            rate = (run.rows_done - last[1]) / (time.perf_counter() - last[0])
            say(f"ours: job {run.rows_done:,} of {run.rows_ok:,} rows, {rate:,.0f} rows/s")
            last[:] = [time.perf_counter(), run.rows_done]

    preview_clock, job_clock = Clock(), Clock()
    start = time.perf_counter()
    with connection.execute_wrapper(preview_clock):
        data = path.read_bytes()
        run = import_preview(profile=profile, data=data, file_name=path.name)
        if not preview_only:
            run = runner.import_confirm(run=run, start=False)
    preview_s = time.perf_counter() - start
    del data
    measures = {
        "run": run.pk, "rows_total": run.rows_total, "preview_s": preview_s,
        "preview_db_s": preview_clock.seconds, "preview_queries": preview_clock.queries,
        "baseline_mib": baseline, "after_preview_mib": rss_mib("VmHWM"),
    }  # fmt: skip
    say(f"ours: preview {run.rows_total:,} rows in {preview_s:.1f}s, {run.rows_ok:,} to import")
    if preview_only:
        import_cancel(run=run)
        print(json.dumps({**measures, "peak_mib": measures["after_preview_mib"]}))
        return
    start = last[0] = time.perf_counter()
    with connection.execute_wrapper(job_clock):
        run = runner.import_run_execute(run.pk, chunk_size=chunk_size, on_chunk=progress)
    job_s = time.perf_counter() - start
    peak = rss_mib("VmHWM")
    # Not part of the end-to-end time: the parsing alone, to split the preview.
    spec, data = profile_of(profile), path.read_bytes()
    parse_s = stopwatch(lambda: sum(1 for _row in parse_rows(spec, data, now=run.created_at)))
    print(json.dumps({
        **measures, "job_s": job_s, "parse_s": parse_s, "pipeline_s": pipeline[0],
        "job_db_s": job_clock.seconds, "job_queries": job_clock.queries, "peak_mib": peak,
        "warnings": dict(warned.messages), "job_kinds": job_clock.kinds, "marks": [(start, 0), *marks],
    }))  # fmt: skip


def ours(path: Path, chunk_size: int, *, preview_only: bool = False) -> dict:
    command = [sys.executable, __file__, "--child", str(path), "--chunk-size", str(chunk_size)]
    done = subprocess.run(
        command + ["--preview-only"] * preview_only, stdout=subprocess.PIPE, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def prefixed(data: bytes, prefix: str) -> bytes:
    """The same rows with new receipt numbers (and originals), for a second import of them."""
    rows = list(csv.reader(io.StringIO(data.decode("gb18030"), newline="")))
    for row in rows[1:]:
        row[2] = prefix + row[2]
        row[9] = prefix + row[9] if row[9] else ""
    out = io.StringIO(newline="")
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("gbk")


def profiled(data: bytes, chunk_size: int) -> tuple[pstats.Stats, ImportRun]:
    profile = ImportProfile.objects.get(code=PROFILE)

    def go() -> ImportRun:
        run = import_preview(profile=profile, data=data, file_name="profiled.csv")
        runner.import_confirm(run=run, start=False)
        return runner.import_run_execute(run.pk, chunk_size=chunk_size)

    profiler = cProfile.Profile()
    run = profiler.runcall(go)
    return pstats.Stats(profiler), run


# --- checks --------------------------------------------------------------------------------

# Ours against the COPY of the same file: values as the file has them. Each counts what differs.
AGAINST_FILE = {
    "purchases not in the file": f"""SELECT count(*) FROM purchases_purchase p
        WHERE NOT EXISTS (SELECT 1 FROM {COPY_TABLE} c WHERE c.receipt_no = p.order_number)""",
    "purchases with another amount, time or store than their row": f"""SELECT count(*)
        FROM purchases_purchase p JOIN {COPY_TABLE} c ON c.receipt_no = p.order_number
        LEFT JOIN members_store s ON s.id = p.store_id
        WHERE p.paid_amount <> replace(c.paid, ',', '')::numeric
           OR p.gross_amount <> replace(c.gross, ',', '')::numeric
           OR p.occurred_at <> c.occurred_at::timestamp AT TIME ZONE %(tz)s
           OR s.code IS DISTINCT FROM c.store_code""",
    "purchases of another member than their row's card or phone": f"""SELECT count(*)
        FROM purchases_purchase p JOIN {COPY_TABLE} c ON c.receipt_no = p.order_number
        WHERE NOT EXISTS (SELECT 1 FROM members_identity i WHERE i.member_id = p.member_id
                          AND ((i.kind = 'card' AND i.value = upper(c.card))
                               OR (i.kind = 'phone' AND i.value = '+86' || c.mobile)))""",
    "refunds not matching their return row": f"""SELECT count(*) FROM purchases_refund r
        JOIN purchases_purchase p ON p.id = r.purchase_id
        LEFT JOIN {COPY_TABLE} c ON c.receipt_no = r.refund_number AND c.original_no = p.order_number
        WHERE c.receipt_no IS NULL OR r.amount <> -replace(c.paid, ',', '')::numeric
           OR r.occurred_at <> c.occurred_at::timestamp AT TIME ZONE %(tz)s""",
    "purchase awards whose points ≠ 2 × ⌊paid⌋ or growth ≠ ⌊paid⌋": """SELECT count(*) FROM (
        SELECT a.id, floor(p.paid_amount) AS cny,
               sum(l.amount) FILTER (WHERE t.code = 'points') AS points,
               sum(l.amount) FILTER (WHERE t.code = 'growth') AS growth
        FROM campaigns_award a JOIN purchases_purchase p ON p.id = a.purchase_id
        LEFT JOIN campaigns_awardline l ON l.award_id = a.id
        LEFT JOIN points_pointtype t ON t.id = l.point_type_id
        WHERE a.kind = 'purchase' GROUP BY a.id, p.paid_amount
    ) x WHERE x.points IS DISTINCT FROM 2 * x.cny OR x.growth IS DISTINCT FROM x.cny""",
    "point types whose entries ≠ award lines": """SELECT count(*) FROM (
        SELECT a.point_type_id, sum(e.amount) AS total FROM points_entry e
        JOIN points_account a ON a.id = e.account_id GROUP BY 1
    ) e FULL JOIN (
        SELECT point_type_id, sum(amount) AS total FROM campaigns_awardline GROUP BY 1
    ) l USING (point_type_id) WHERE e.total IS DISTINCT FROM l.total""",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--stores", type=int, default=300)
    parser.add_argument("--plain-rows", type=int, default=20_000, help="rows for (b) django-import-export")
    parser.add_argument("--ours-rows", type=int, help="rows for (c): a sample, projected (default: --rows)")
    parser.add_argument(
        "--chunk-size", type=int, default=runner.CHUNK, help="rows per transaction of the job"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--new-members-pct", type=int, default=5, help="of --members, left to the import")
    parser.add_argument("--profile-rows", type=int, default=2_000, help="rows through (c) under cProfile")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--preview-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    settings.DEBUG = False  # no query log: it would tax every query of every variant
    if args.child:
        settings.MEDIA_ROOT = str(Path(os.environ[WORK_ENV]) / "media")
        child(args.child, args.chunk_size, args.preview_only)
        return
    if connection.vendor != "postgresql":
        sys.exit("Run this against PostgreSQL (tests/pgcluster.py, or DATABASE_URL=postgres://...).")
    work = Path(tempfile.mkdtemp(prefix="bench-imports-"))
    os.environ[WORK_ENV] = str(work)  # for the child
    settings.MEDIA_ROOT = str(work / "media")
    try:
        run_all(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_all(args: argparse.Namespace, work: Path) -> None:
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    if Member.objects.exists() or Purchase.objects.exists():
        sys.exit("Run this on an empty database: it seeds its own stores, members and campaign.")
    n = {"rows": args.rows, "plain": min(args.plain_rows, args.rows)}
    n["ours"] = min(args.ours_rows or args.rows, args.rows)

    path, clock = work / "pos.csv", time.perf_counter()
    options = {"--rows": args.rows, "--members": args.members, "--stores": args.stores, "--seed": args.seed}
    with path.open("w", encoding="gbk", newline="") as out:
        exports.write_pos(out, args.rows, args.members, args.stores, args.seed)
    size = path.stat().st_size
    say(f"file: {args.rows:,} rows, {size / 2**20:.1f} MiB in {time.perf_counter() - clock:.1f}s")
    clock = time.perf_counter()
    people = set_up(members=args.members, stores=args.stores, new_pct=args.new_members_pct)
    say(f"set-up: {people['enrolled']:,} members enrolled in {time.perf_counter() - clock:.1f}s (not timed)")
    ours_path = path
    if n["ours"] < args.rows:
        ours_path = work / f"first-{n['ours']}.csv"
        ours_path.write_bytes(head(path, n["ours"]))
    create_tables()
    sql("VACUUM ANALYZE")

    # (a), (b), then (c): one after the other, on the same database.
    times = {"copy": stopwatch(lambda: copy_file(path))}
    say(f"(a) COPY: {times['copy']:.2f}s")
    plain_data = head(path, n["plain"])
    times["plain"] = stopwatch(lambda: plain_import(plain_data))
    say(f"(b) django-import-export: {n['plain']:,} rows in {times['plain']:.1f}s")
    whole = None
    if n["ours"] < args.rows:  # the preview of the whole file: its time and memory, measured (then cancelled)
        whole = ours(path, args.chunk_size, preview_only=True)
    got = ours(ours_path, args.chunk_size)
    run = ImportRun.objects.get(pk=got["run"])

    kinds = {"file": kinds_in(path.read_bytes()), "ours": kinds_in(ours_path.read_bytes())}
    checks = check(run, kinds, kinds_in(plain_data))
    if whole:
        checks.append(
            ("(c) whole-file preview: rows staged", whole["rows_total"], sum(kinds["file"].values()))
        )
    failed = [(label, value, want) for label, value, want in checks if value != want]
    stats = None
    if args.profile_rows and not failed:
        stats, again = profiled(prefixed(head(ours_path, args.profile_rows), "P-"), args.chunk_size)
        assert again.status == ImportRun.Status.DONE, again.error

    setting = sql(
        "SELECT current_setting('server_version'), current_setting('fsync'),"
        " current_setting('synchronous_commit'), current_setting('shared_buffers')"
    )[0]
    print(
        "PostgreSQL {} (fsync={}, synchronous_commit={}, shared_buffers={}),".format(*setting),
        f"{os.cpu_count()} CPUs",
    )
    print(
        f"File: exports.py pos {' '.join(f'{k} {v}' for k, v in options.items())}: {size / 2**20:.1f} MiB"
        f" GBK, {kinds['file'][SALE]:,} sales, {kinds['file'][RETURN]:,} returns, a totals row"
    )
    print(
        f"Members enrolled beforehand: {people['enrolled']:,} of {args.members:,} ({people['with phone']:,}"
        f" with a valid mobile), {people['new']:,} left for the import to enrol; 1 live campaign (×2)\n"
    )
    report(n, times, got, whole, run)
    print("Checks\n")
    table(["check", "got", "want"], [[label, str(value), str(want)] for label, value, want in checks])
    if stats is not None:
        print(
            f"cProfile of (c) over {args.profile_rows:,} more rows (the first rows again, new receipt"
            f" numbers): {stats.total_tt:.1f} s with the profiler on\n"
        )
        columns_ = ["calls/row", "per row", "share"]
        table(
            ["project function, by cumulative time", *columns_],
            profile_top(stats, args.profile_rows, mine=True, top=15),
        )
        table(["any function, by own time", *columns_], profile_top(stats, args.profile_rows, mine=False))
    print(f"total run time {time.perf_counter() - started:.0f} s")
    assert not failed, failed


def check(run: ImportRun, kinds: dict[str, Counter], plain_file: Counter) -> list[tuple[str, object, object]]:
    """(label, got, want) for every check."""
    copied = sql(f"SELECT coalesce(nullif(kind, ''), store_code), count(*) FROM {COPY_TABLE} GROUP BY 1")
    plain = sql(f"SELECT kind, count(*) FROM {PLAIN_TABLE} GROUP BY 1")
    rejected = Counter(
        dict(
            run.rows.filter(state=ImportRow.State.REJECTED).values_list("kind").annotate(n=models.Count("pk"))
        )
    )
    tz = {"tz": settings.TIME_ZONE}
    return [
        ("(a) COPY: rows per kind = the file's", Counter(dict(copied)) == kinds["file"], True),
        ("(b) plain: rows per kind = its rows'", Counter(dict(plain)) == plain_file, True),
        ("(c) status", run.status, ImportRun.Status.DONE),
        ("(c) rows staged = the file's", run.rows_total, sum(kinds["ours"].values())),
        ("(c) duplicates", run.rows_duplicate, 0),
        ("(c) purchases = sales − rejected", run.purchases_created, kinds["ours"][SALE] - rejected["sale"]),
        ("(c) refunds = returns − rejected", run.refunds_created, kinds["ours"][RETURN] - rejected["return"]),
        ("(c) purchases in the database", Purchase.objects.count(), run.purchases_created),
        ("(c) refunds in the database", Refund.objects.count(), run.refunds_created),
        ("(c) purchase awards", Award.objects.filter(kind="purchase").count(), run.purchases_created),
        ("(c) refund awards", Award.objects.filter(kind="refund").count(), run.refunds_created),
        *((f"(c) {label}", sql(query, tz)[0][0], 0) for label, query in AGAINST_FILE.items()),
        ("(c) accounts with ledger problems", len(ledger_problems()), 0),
    ]


if __name__ == "__main__":
    main()
