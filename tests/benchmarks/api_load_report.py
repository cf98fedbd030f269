"""What ``api_load.py`` measures besides the clock, what it checks, and its printed report: CPU
per process group (from /proc), PostgreSQL's backends sampled in pg_stat_activity, per-table
statistics, the rows each variant wrote."""

from __future__ import annotations

import contextlib
import math
import os
import resource
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import gunicorn
import psycopg
from django.conf import settings

from tests.benchmarks.common import sql, table

OURS, CEILING = "AO", "AF"  # member number and order number prefixes of each variant
SOURCE = "api:bench"  # the partner's purchases' source
TICK = os.sysconf("SC_CLK_TCK")
APP_GROUP: list[int] = []  # the process group of the server under test (gunicorn), once started
POSTMASTER: list[int] = []  # our PostgreSQL's postmaster, when it runs on this machine


@dataclass
class Cpu:
    """CPU seconds: the machine's busy and total time, this process (the client), the app server's
    processes, our PostgreSQL's (postmaster and backends); the rest of ``busy`` is someone else's."""

    busy: float = 0.0
    total: float = 0.0
    irq: float = 0.0  # interrupts and softirqs (loopback networking), in no process's time
    client: float = 0.0
    app: float = 0.0
    db: float = 0.0

    def minus(self, other: Cpu) -> Cpu:
        return Cpu(
            *(getattr(self, f) - getattr(other, f) for f in ("busy", "total", "irq", "client", "app", "db"))
        )


def find_postmaster() -> None:
    """Our server's postmaster: the parent of this connection's backend, if it is on this machine."""
    backend = sql("SELECT pg_backend_pid()")[0][0]
    with contextlib.suppress(OSError):
        raw = Path(f"/proc/{backend}/stat").read_text()
        if raw[raw.index("(") + 1 : raw.rindex(")")] == "postgres":
            POSTMASTER[:] = [int(raw[raw.rindex(")") + 2 :].split()[1])]


def cpu_snapshot() -> Cpu:
    with open("/proc/stat") as stat:
        jiffies = [int(v) for v in stat.readline().split()[1:9]]
    idle = jiffies[3] + jiffies[4]  # idle, iowait
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = Cpu(busy=(sum(jiffies) - idle) / TICK, total=sum(jiffies) / TICK, irq=sum(jiffies[5:7]) / TICK,
              client=usage.ru_utime + usage.ru_stime)  # fmt: skip
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            raw = Path(f"/proc/{pid}/stat").read_text()
        except OSError:  # gone meanwhile
            continue
        comm, rest = raw[raw.index("(") + 1 : raw.rindex(")")], raw[raw.rindex(")") + 2 :].split()
        # utime, stime, and those of its children that exited (a backend closed, a worker restarted)
        seconds = sum(int(v) for v in rest[11:15]) / TICK
        if APP_GROUP and int(rest[2]) == APP_GROUP[0]:
            cpu.app += seconds
        elif POSTMASTER and comm == "postgres" and POSTMASTER[0] in (int(pid), int(rest[1])):
            cpu.db += seconds
    return cpu


@dataclass
class Run:
    results: list  # per request: (HTTP status, body)
    latency: list[float]  # per request, seconds
    finished: list[float]  # per request, seconds since the start
    wall: float
    cpu: Cpu
    waits: Counter = field(default_factory=Counter)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latency)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class WaitSampler:
    """What PostgreSQL's client backends are doing, sampled every ``every`` seconds on its own
    connection: running, waiting for a lock (``Lock:…``), for I/O, or idle in a transaction."""

    def __init__(self, url: str, every: float = 0.02) -> None:
        self.url, self.every, self.counts = url, every, Counter()
        self.stop = threading.Event()

    def __enter__(self) -> WaitSampler:
        self.conn = psycopg.connect(self.url, autocommit=True)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        return self

    def run(self) -> None:
        query = """SELECT state, wait_event_type, wait_event FROM pg_stat_activity
            WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND state <> 'idle'"""
        while not self.stop.wait(self.every):
            self.counts["samples"] += 1
            for state, kind, event in self.conn.execute(query, prepare=True).fetchall():
                if state == "active":
                    self.counts[f"{kind}:{event}" if kind else "running (on CPU or runnable)"] += 1
                else:
                    self.counts[f"{state} (waiting for its client)"] += 1

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
        self.conn.close()


#: What a backend holds back of its statistics is sent when it exits, else within 10 s of going idle
#: (PostgreSQL 15's PGSTAT_IDLE_INTERVAL; a busy one sends them at most once a second).
STATS_IDLE_FLUSH = 11.0


def table_stats() -> dict[str, tuple[int, ...]]:
    """Per table: rows inserted, updated, sequential scans, rows they read, index scans (cumulative).
    Exact between moments when no backend holds statistics back (see ``STATS_IDLE_FLUSH``)."""
    time.sleep(0.5)  # for the backends that just closed
    return {name: tuple(figures) for name, *figures in sql(
        "SELECT relname, n_tup_ins, n_tup_upd, seq_scan, seq_tup_read, COALESCE(idx_scan, 0)"
        " FROM pg_stat_user_tables"
    )}  # fmt: skip


# --- what was written ----------------------------------------------------------------------

WRITTEN = {  # what a variant's timed purchases wrote, per table (order numbers ``prefix-1-…``)
    "purchases: n Σpaid": "SELECT count(*), sum(paid_amount) FROM purchases_purchase p WHERE {p}",
    "purchase lines: n Σamount": "SELECT count(*), sum(l.amount) FROM purchases_purchaseline l"
    " JOIN purchases_purchase p ON p.id = l.purchase_id WHERE {p}",
    "awards: n": "SELECT count(*) FROM campaigns_award a"
    " JOIN purchases_purchase p ON p.id = a.purchase_id WHERE {p}",
    "award lines: type n Σ": "SELECT t.code, count(*), sum(l.amount) FROM campaigns_awardline l"
    " JOIN campaigns_award a ON a.id = l.award_id JOIN purchases_purchase p ON p.id = a.purchase_id"
    " JOIN points_pointtype t ON t.id = l.point_type_id WHERE {p} GROUP BY 1",
    "entries: type n Σ": "SELECT t.code, count(*), sum(e.amount) FROM points_entry e"
    " JOIN points_account x ON x.id = e.account_id JOIN points_pointtype t ON t.id = x.point_type_id"
    " JOIN campaigns_award a ON a.key = e.source_ref JOIN purchases_purchase p ON p.id = a.purchase_id"
    " WHERE {p} GROUP BY 1",
    "lots: status n Σ expiring": "SELECT l.status, count(*), sum(l.remaining), count(l.expires_at)"
    " FROM points_lot l JOIN campaigns_award a ON a.key = l.source_ref"
    " JOIN purchases_purchase p ON p.id = a.purchase_id WHERE {p} GROUP BY 1",
}


def written(prefix: str) -> dict[str, str]:
    where = "p.source = %(source)s AND p.order_number LIKE %(orders)s"
    args = {"source": SOURCE, "orders": f"{prefix}-1-%"}
    return {label: "; ".join(" ".join(map(str, row)) for row in sorted(sql(query.format(p=where), args)))
            for label, query in WRITTEN.items()}  # fmt: skip


def stored_answers(keys: list[str]) -> int:
    query = "SELECT count(*) FROM partners_idempotentrequest WHERE status_code = 201 AND key = ANY(%s)"
    return sql(query, [keys])[0][0]


# --- the report ------------------------------------------------------------------------------


def ratio(ours: float, ceiling: float) -> str:
    return f"×{ours / ceiling:.3g}" if ceiling else "-"


def report(args, server, runs: dict, counts: dict, checks: list, wrote: dict, wrong: list, log: str,
           seconds: float) -> None:  # fmt: skip
    version, fsync, sync_commit, max_conn = sql(
        "SELECT current_setting('server_version'), current_setting('fsync'),"
        " current_setting('synchronous_commit'), current_setting('max_connections')"
    )[0]
    threads = f" × {args.threads} threads" if args.worker_class == "gthread" else ""
    print(f"Server: gunicorn {gunicorn.__version__}, {args.workers} {args.worker_class} workers{threads} on"
          f" 127.0.0.1, DEBUG=0, CONN_MAX_AGE={settings.DATABASES['default']['CONN_MAX_AGE']}")  # fmt: skip
    print(f"  {server.command}")
    print(f"Database: PostgreSQL {version} on 127.0.0.1 (fsync={fsync}, synchronous_commit={sync_commit},"
          f" max_connections={max_conn}); {os.cpu_count()} CPUs for client, server and database")  # fmt: skip
    print(f"Load: {args.requests:,} purchases per variant after {args.warmup:,} warm-up ones,"
          f" {args.concurrency} client threads (closed loop) or SQL connections;"
          f" {args.members:,} members per variant\n")  # fmt: skip

    rows, figures, warnings = [], {}, []
    for prefix, label in (
        (CEILING, "ceiling: raw SQL, 1 transaction each"),
        (OURS, "ours: POST /api/v1/purchases/"),
    ):
        run = runs[prefix]
        figures[prefix] = [run.wall, len(run.latency) / run.wall] + [
            run.percentile(q) * 1000 for q in (0.5, 0.95, 1.0)
        ]
        wall, rate, p50, p95, top = figures[prefix]
        rows.append([label, f"{len(run.latency):,}", f"{wall:.2f}", f"{rate:,.0f}", f"{p50:.1f}",
                     f"{p95:.1f}", f"{top:.1f}"])  # fmt: skip
    rows.append(
        ["ours ÷ ceiling", "", *(ratio(o, c) for o, c in zip(figures[OURS], figures[CEILING], strict=True))]
    )
    table(["variant", "requests", "wall s", "req/s", "p50 ms", "p95 ms", "max ms"], rows)
    share = figures[OURS][1] / figures[CEILING][1]
    print(f"Throughput: ours is {share:.1%} of the ceiling; the ceiling is ×{1 / share:.1f} ours.\n")

    print("CPU per request, ms (from /proc; app = gunicorn's processes, client = this process,")
    print("others = the rest of the machine's busy time: processes that are not part of the benchmark)\n")
    rows = []
    for prefix, label in ((CEILING, "ceiling"), (OURS, "ours")):
        cpu, n = runs[prefix].cpu, len(runs[prefix].latency)
        others = cpu.busy - cpu.irq - cpu.client - cpu.app - cpu.db
        figures = (cpu.client, cpu.app, cpu.db if POSTMASTER else math.nan, cpu.irq, others, cpu.busy)
        rows.append([label, *(f"{v / n * 1000:.2f}" for v in figures), f"{cpu.busy / cpu.total:.0%}"])
        if others > max(0.1 * cpu.busy, 50 / TICK):  # /proc counts in ticks: a few are noise
            warnings.append(f"{label}: other processes took {others / cpu.busy:.0%} of the machine's busy CPU"
                            " during the run; its figures are lower than on a quiet machine")  # fmt: skip
    heads = ["client", "app server", "PostgreSQL", "irq+softirq", "others", "machine busy", "busy share"]
    table(["variant", *heads], rows)

    print(
        "PostgreSQL client backends during the run (pg_stat_activity every 20 ms): mean backends per state\n"
    )
    labels = sorted({k for run in runs.values() for k in run.waits if k != "samples"})
    rows = [
        [label, *(f"{runs[p].waits[label] / max(runs[p].waits['samples'], 1):.2f}" for p in (CEILING, OURS))]
        for label in labels
    ]
    table(["state / wait event", "ceiling", "ours"], rows or [["(no busy backend seen)", "", ""]])

    n, (before, between, after) = args.requests, (counts[k] for k in ("before", "between", "after"))
    per = {name: [[(b - a) / n for a, b in zip(x[name], y[name], strict=True)]
                  for x, y in ((before, between), (between, after))] for name in after}  # fmt: skip
    print("Rows written per request, by table (pg_stat_user_tables)\n")
    rows = [[name, *(f"{v:.2f}" for v in (c[0], c[1], o[0], o[1]))] for name, (c, o) in sorted(per.items())
            if any(c[:2] + o[:2])]  # fmt: skip
    table(["table", "ceiling inserted", "ceiling updated", "ours inserted", "ours updated"], rows)
    print("Reads per request, by table: sequential scans, the rows they read, index scans\n")
    by_rows_read = sorted(per.items(), key=lambda item: (-item[1][1][3], item[0]))  # ours', most first
    rows = [
        [name, *(f"{v:,.2f}" for v in (*c[2:], *o[2:]))]
        for name, (c, o) in by_rows_read
        if any(c[2:] + o[2:])
    ]
    heads = ["seq scans", "rows read", "idx scans"]
    table(["table", *(f"ceiling {h}" for h in heads), *(f"ours {h}" for h in heads)], rows[:15])

    print("Requests per second by fifth of the run (in order of completion)\n")
    rows = []
    for prefix, label in ((CEILING, "ceiling"), (OURS, "ours")):
        moments, fifth = sorted(runs[prefix].finished), len(runs[prefix].finished) / 5
        edges = [0.0] + [moments[round(fifth * k) - 1] for k in range(1, 6)]
        rows.append([label, *(f"{fifth / (b - a):,.0f}" if b > a else "-" for a, b in pairwise(edges))])
    table(["variant", "1st", "2nd", "3rd", "4th", "5th"], rows)
    print("What ours wrote, the same as the ceiling (checked)\n")
    table(["rows", "values"], [[label, values] for label, values in wrote.items()])

    statuses = Counter(status for status, _body in runs[OURS].results)
    print(f"Answers of ours: {', '.join(f'{s}: {k:,}' for s, k in sorted(statuses.items(), key=str))}")
    for each in wrong[:5]:
        print(f"  wrong: {each}")
    trouble = [
        line for line in log.splitlines() if any(w in line for w in ("Traceback", "ERROR", "CRITICAL"))
    ]
    print(f"gunicorn log: {len(log.splitlines()):,} lines, {len(trouble)} with Traceback/ERROR/CRITICAL")
    for line in trouble[:10]:
        print(f"  {line}")
    for warning in warnings:
        print(f"WARNING: {warning}")
    print("\nChecks\n")
    table(["check", "got", "want"], [[label, str(got), str(want)] for label, got, want in checks])
    print(f"total run time {seconds:.0f} s")


def risk_report(runs: list[tuple[bool, Run]]) -> None:
    """What the inline risk checks cost per purchase: each run with the rules against the mean of
    the runs either side of it; the median of those differences."""
    rows = []
    for active, run in runs:
        label = "with rules" if active else "without"
        n, cpu = len(run.latency), run.cpu
        held = sum(1 for status, body in run.results if status == 201 and b'"risk_rule"' in body)
        rows.append([label, f"{n / run.wall:,.0f}", f"{run.percentile(0.5) * 1000:.1f}",
                     f"{run.percentile(0.95) * 1000:.1f}", f"{cpu.app / n * 1000:.2f}",
                     f"{cpu.db / n * 1000:.2f}", f"{held:,}"])  # fmt: skip
    print()
    table(
        ["risk rules", "req/s", "p50 ms", "p95 ms", "app CPU ms/req", "db CPU ms/req", "held by a rule"], rows
    )

    def per_request(run: Run) -> float:
        return (run.cpu.app + run.cpu.db) / len(run.latency) * 1000

    def p50(run: Run) -> float:
        return run.percentile(0.5) * 1000

    cpu_added, p50_added = [], []
    for i in range(1, len(runs) - 1, 2):  # each run with the rules, between two without
        (_a, before), (_b, with_rules), (_c, after) = runs[i - 1 : i + 2]
        cpu_added.append(per_request(with_rules) - (per_request(before) + per_request(after)) / 2)
        p50_added.append(p50(with_rules) - (p50(before) + p50(after)) / 2)
    each = ", ".join(f"{a:+.2f}" for a in cpu_added)
    drift = [per_request(run) for active, run in runs if not active]
    print(f"The inline risk checks add {statistics.median(cpu_added):+.2f} ms of app and database CPU"
          f" per purchase (median of {each}), {statistics.median(p50_added):+.1f} ms at p50; the runs"
          f" without the rules ranged {min(drift):.2f}–{max(drift):.2f} ms.\n")  # fmt: skip
