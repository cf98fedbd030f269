"""Purchases posted to the API through gunicorn under load vs raw SQL writing the same rows, on PostgreSQL.

Side by side in one run: throughput as the ratio ours ÷ ceiling, latencies next to each other.

    DEBUG=1 .venv/bin/python tests/pgcluster.py -- .venv/bin/python tests/benchmarks/api_load.py \
        [--members 2000] [--requests 2000] [--concurrency 8] [--workers 4] [--worker-class sync]
        [--segment-campaign] [--webhooks] [--risk-rules]

(or DATABASE_URL=postgres://... on an empty database; the script migrates it itself.)
``--risk-rules``: after the report's two variants, ours seven times more on new plans of the same
members, alternately without the risk rules and with the starter rules on (without first and last),
and what the inline checks add per purchase: each run with the rules against the mean of the runs
either side of it, and the median of those three differences (the machine drifts between runs).
``--webhooks``: the partner subscribes to every webhook event, so each purchase also writes its
events (points.changed, purchase.awarded) in its transaction; nothing is delivered.

Set-up, not timed: the migrations' point types and base rules (1 point and 1 growth per CNY,
rounded down; no campaign, only the entry tier); one store; the partner ``bench`` (every grant,
channel store, that store, no practical rate limit) and its key; two cohorts of --members members
(AO… for ours, AF… for the ceiling), each with both points accounts and its tier row (as
``lock_statuses`` creates it), as in a running programme, all linked to the partner. The same plan
for both: --requests purchases of a random member each (seeded), paid 10–800 CNY, one line, a
distinct order number and Idempotency-Key each, bodies built beforehand.

(a) ours: ``gunicorn config.wsgi:application`` on 127.0.0.1, --workers processes of the
    --worker-class: sync by default, because that is what the README's production command
    (``gunicorn config.wsgi --workers 4``) runs, so the figure is the deployed one. Sync workers
    answer ``Connection: close``: each request opens a loopback connection, as behind a proxy
    that does not pool. ``--worker-class gthread --threads N`` measures keep-alive connections
    and N requests in flight per process instead. DEBUG=0 with a random SECRET_KEY,
    ALLOWED_HOSTS=127.0.0.1, no broker (tasks eager), its output in a temporary log. --concurrency
    client threads in this process, each with a keep-alive ``http.client.HTTPConnection``, POST
    /api/v1/purchases/ with ``X-Forwarded-Proto: https`` (as the TLS proxy sets it), in a closed
    loop; timed per request (send to last byte read) and in all (first send to last answer).
(b) ceiling: as many threads, each with its own psycopg connection, one transaction per purchase
    writing the rows the endpoint writes, in plain SQL with prepared statements: claim the
    Idempotency-Key (partners_idempotentrequest, status 0), insert the purchase and its line, the
    award and its two lines, lock the member's two accounts (SELECT … ORDER BY id FOR UPDATE, the
    ledger's lock), insert two entries and two lots, update the two accounts, store the response
    (status 201 and a body of the size of ours, taken from a warm-up answer), commit.

--segment-campaign adds a live campaign (+1 point) for a dynamic segment, "spent at least
¥1,000,000 in the last 30 days": every purchase reads the segment for its member (the spend of
their window) and nobody is in it, so the answers and the ceiling's rows stay the same and the
difference is the cost of targeting a segment.

Both get --warmup purchases first (not timed: they warm the workers, connections and prepared
statements), then ANALYZE; the ceiling runs first, then ours. Checks (asserted): every answer
201, with the points and growth of its amount; each variant created --requests purchases and
awards and stored as many 201 answers; the ceiling wrote the same rows as ours (counts and sums
per table: lines, award lines, entries, lots); ``ledger_problems() == {}`` (balances = Σ entries,
lots, …). Also reported: CPU per request from /proc (this process, gunicorn's process group, our
PostgreSQL's postmaster and backends, and "others": the rest of the machine's busy time, with a
warning above 10%, as then the machine was shared and the figures are low); what PostgreSQL's
client backends were doing (pg_stat_activity every 20 ms: lock waits show there); per table and
request the rows inserted and updated, sequential and index scans (pg_stat_user_tables); req/s by
fifth of a run. The ceiling's clients are Python threads sharing the machine: it is a lower bound.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime
import http.client
import json
import os
import queue
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

# isort: off
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere
from tests.benchmarks.common import ROOT, say, sql
from tests.benchmarks.api_load_report import APP_GROUP, CEILING, OURS, Run, WaitSampler, cpu_snapshot
from tests.benchmarks.api_load_report import SOURCE, STATS_IDLE_FLUSH, find_postmaster, report, stored_answers
from tests.benchmarks.api_load_report import risk_report, table_stats, written
from tests.benchmarks.api_load_setup import make_plan, segment_campaign, set_up
# isort: on

import psycopg
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from campaigns.models import Award, RiskRule
from campaigns.risk.starter import starter_rules
from members.models import Member
from members.partners.api.idempotency import fingerprint as request_fingerprint
from points import policy
from points.models import PointType
from points.selectors import ledger_problems
from points.services.common import fingerprint as entry_fingerprint

PATH = "/api/v1/purchases/"
RATE = {"rate": "1", "rounding": "floor"}  # the migrations' base rules, as the award lines record them


def floor(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_FLOOR))


# --- the load: C threads in a closed loop ------------------------------------------------------


class Pool:
    """The client's connections, kept from the warm-up to the timed run (a server's are too)."""

    def __init__(self, connect: Callable) -> None:
        self.connect, self.idle, self.every = connect, queue.SimpleQueue(), []

    def take(self):
        with contextlib.suppress(queue.Empty):
            return self.idle.get_nowait()
        handle = self.connect()
        self.every.append(handle)
        return handle

    def give(self, handle) -> None:
        self.idle.put(handle)

    def close(self) -> None:
        for handle in self.every:
            with contextlib.suppress(Exception):
                handle.close()


def drive(concurrency: int, items: list, pool: Pool, send: Callable) -> Run:
    """Run ``send(handle, item)`` for every item from ``concurrency`` threads, each with its own
    handle from ``pool``; per item the latency and what ``send`` returned; the wall time from the
    moment all threads hold a handle to the last answer."""
    work: queue.SimpleQueue = queue.SimpleQueue()
    for index, item in enumerate(items):
        work.put((index, item))
    results: list = [None] * len(items)
    latency, finished = [0.0] * len(items), [0.0] * len(items)
    ready, go = threading.Barrier(concurrency + 1), threading.Event()
    failures = []

    def worker() -> None:
        try:
            handle = pool.take()
        except BaseException as exc:
            failures.append(exc)
            raise
        finally:
            ready.wait()
            go.wait()
        while not failures:
            try:
                index, item = work.get_nowait()
            except queue.Empty:
                break
            start = time.perf_counter()
            try:
                results[index] = send(handle, item)
            except Exception as exc:  # counted and shown, not fatal mid-run
                results[index] = (f"error {type(exc).__name__}", str(exc).encode())
                with contextlib.suppress(Exception):
                    handle.close()  # broken: a new one (the pool closes every handle at the end)
                    handle = pool.take()
            finished[index] = time.perf_counter()
            latency[index] = finished[index] - start
        pool.give(handle)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    ready.wait()  # every thread has its connection
    before, start = cpu_snapshot(), time.perf_counter()
    go.set()
    for thread in threads:
        thread.join()
    wall, after = time.perf_counter() - start, cpu_snapshot()
    if failures:
        raise failures[0]
    finished = [moment - start for moment in finished]
    return Run(results=results, latency=latency, finished=finished, wall=wall, cpu=after.minus(before))


# --- (a) ours: gunicorn ----------------------------------------------------------------------


def die_with_parent() -> None:
    """In the child: SIGTERM when this script dies, even killed outright (Linux's PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


class Server:
    """gunicorn in its own process group, output to a temporary log; stopped however we leave."""

    def __init__(self, workers: int, worker_class: str, threads: int, log: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "SECURE_"))}
        env |= {"DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "127.0.0.1",
                "DATABASE_URL": os.environ["DATABASE_URL"],
                "DJANGO_SETTINGS_MODULE": "config.settings"}  # fmt: skip
        command = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--chdir", ROOT,
                   "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers),
                   "--worker-class", worker_class,
                   "--timeout", "120", "--graceful-timeout", "10", "--log-level", "info"]  # fmt: skip
        if worker_class == "gthread":
            command += ["--threads", str(threads)]
        self.log = log
        self.output = log.open("wb")
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.output,
                                        stderr=subprocess.STDOUT, start_new_session=True,
                                        preexec_fn=die_with_parent)  # fmt: skip
        self.command = " ".join(command[1:])
        APP_GROUP[:] = [self.process.pid]  # its own session: the group id is its pid

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.process.returncode}):\n{self.tail()}")
            with contextlib.suppress(OSError):
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/api/v1/", headers={"X-Forwarded-Proto": "https"})
                conn.getresponse().read()
                conn.close()
                return
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s:\n{self.tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(15)
        with contextlib.suppress(ProcessLookupError):  # whatever is left of the group (hung workers)
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.output.close()

    def tail(self, lines: int = 30) -> str:
        if not self.output.closed:
            self.output.flush()
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def ours(pool: Pool, key: str, concurrency: int, plan: list[tuple[dict, str]]) -> Run:
    headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json",
               "X-Forwarded-Proto": "https"}  # fmt: skip
    items = [(json.dumps(body).encode(), idempotency_key) for body, idempotency_key in plan]

    def send(conn: http.client.HTTPConnection, item: tuple[bytes, str]) -> tuple[int, bytes]:
        body, idempotency_key = item
        conn.request("POST", PATH, body=body, headers={**headers, "Idempotency-Key": idempotency_key})
        response = conn.getresponse()
        return response.status, response.read()

    return drive(concurrency, items, pool, send)


# --- (b) the ceiling: the same rows in plain SQL ------------------------------------------------

CLAIM = """INSERT INTO partners_idempotentrequest (partner_id, key, fingerprint, status_code, content_type,
    body, created_at) VALUES (%s, %s, %s, 0, '', '', %s)"""
PURCHASE = """INSERT INTO purchases_purchase (source, order_number, channel, store_id, member_id, occurred_at,
    gross_amount, paid_amount, shipping_amount, gift_card_amount, points_amount, refunded_amount, status,
    created_at) VALUES (%s, %s, 'store', %s, %s, %s, %s, %s, 0, 0, 0, 0, 'completed', %s) RETURNING id"""
LINE = """INSERT INTO purchases_purchaseline (purchase_id, sku, name, category, quantity, amount)
    VALUES (%s, %s, %s, %s, %s, %s)"""
AWARD = """INSERT INTO campaigns_award (key, kind, member_id, purchase_id, reason, occurred_at, created_at)
    VALUES (%s, 'purchase', %s, %s, %s, %s, %s) RETURNING id"""
AWARD_LINES = """INSERT INTO campaigns_awardline (award_id, member_id, kind, point_type_id, amount, cny,
    occurred_at, params) VALUES (%s, %s, 'base', %s, %s, 0, %s, %s), (%s, %s, 'base', %s, %s, 0, %s, %s)"""
LOCK = """SELECT id, point_type_id, available, pending FROM points_account WHERE member_id = %s
    ORDER BY id FOR UPDATE"""
ENTRIES = """INSERT INTO points_entry (account_id, kind, amount, balance_after, source, source_ref, reason,
    idempotency_key, fingerprint, created_at) VALUES
    (%s, 'earn', %s, %s, 'purchase', %s, %s, %s, %s, %s), (%s, 'earn', %s, %s, 'purchase', %s, %s, %s, %s, %s)
    RETURNING id"""
LOTS = """INSERT INTO points_lot (account_id, entry_id, source, source_ref, amount, remaining, status,
    available_at, expires_at) VALUES (%s, %s, 'purchase', %s, %s, %s, %s, %s, %s),
    (%s, %s, 'purchase', %s, %s, %s, %s, %s, %s)"""
ACCOUNTS = """UPDATE points_account a
    SET available = a.available + v.available, pending = a.pending + v.pending,
    earned = a.earned + v.available + v.pending, updated_at = %s
    FROM (VALUES (%s::bigint, %s::bigint, %s::bigint), (%s, %s, %s)) AS v(id, available, pending)
    WHERE a.id = v.id"""
ANSWER = """UPDATE partners_idempotentrequest SET status_code = 201, content_type = 'application/json',
    body = %s WHERE partner_id = %s AND key = %s"""


def ceiling(
    pool: Pool, concurrency: int, plan: list[tuple[dict, str]], partner_id: int, store_id: int, answer: bytes
) -> Run:
    members = dict(
        Member.objects.filter(member_number__startswith=CEILING).values_list("member_number", "pk")
    )
    types = {pt.pk: pt for pt in PointType.objects.all()}
    items = [(body, json.dumps(body).encode(), idempotency_key) for body, idempotency_key in plan]

    def send(conn: psycopg.Connection, item: tuple[dict, bytes, str]) -> tuple[int, bytes]:
        body, raw, key = item
        member, at = members[body["member_number"]], datetime.datetime.now(datetime.UTC)
        occurred, paid = datetime.datetime.fromisoformat(body["occurred_at"]), Decimal(body["paid_amount"])
        amount, line = floor(paid), body["lines"][0]
        with conn.cursor() as cur:
            cur.execute(CLAIM, (partner_id, key, request_fingerprint("POST", PATH, raw), at), prepare=True)
            cur.execute(PURCHASE, (SOURCE, body["order_number"], store_id, member, occurred,
                                   Decimal(body["gross_amount"]), paid, at), prepare=True)  # fmt: skip
            purchase = cur.fetchone()[0]
            cur.execute(LINE, (purchase, line["sku"], line["name"], line["category"],
                               Decimal(line["quantity"]), Decimal(line["amount"])), prepare=True)  # fmt: skip
            ref, reason = f"purchase:{purchase}", f"{SOURCE} {body['order_number']}"[:100]
            cur.execute(AWARD, (ref, member, purchase, reason, occurred, at), prepare=True)
            award = cur.fetchone()[0]
            params = json.dumps({**RATE, "eligible": body["paid_amount"]})
            accounts = cur.execute(LOCK, (member,), prepare=True).fetchall()
            line_args, entry_args, lot_args, account_args = [], [], [], []
            for account, type_id, available, pending in accounts:
                point_type = types[type_id]
                line_args += [award, member, type_id, amount, occurred, params]
                due = policy.available_at(point_type, occurred)
                digest = entry_fingerprint(op="earn", member=member, type=point_type.code, amount=amount,
                                           source="purchase", ref=ref, available_at=due)  # fmt: skip
                entry_args += [account, amount, available + pending + amount, ref, reason,
                               f"{ref}:{point_type.code}", digest, at]  # fmt: skip
                status = "pending" if due > at else "available"
                lot_args.append(
                    [account, ref, amount, amount, status, due, policy.expires_at(point_type, at)]
                )
                account_args += [account, 0 if due > at else amount, amount if due > at else 0]
            cur.execute(AWARD_LINES, line_args, prepare=True)
            entries = [row[0] for row in cur.execute(ENTRIES, entry_args, prepare=True).fetchall()]
            lots = [
                v for (account, *rest), e in zip(lot_args, entries, strict=True) for v in (account, e, *rest)
            ]
            cur.execute(LOTS, lots, prepare=True)
            cur.execute(ACCOUNTS, [at, *account_args], prepare=True)
            cur.execute(ANSWER, (answer, partner_id, key), prepare=True)
        conn.commit()
        return 201, b""

    return drive(concurrency, items, pool, send)


def flush_statistics(pool: Pool) -> None:
    """Have the pool's backends report their statistics now (PostgreSQL 15+), not within 10 s."""
    for conn in pool.every:
        with contextlib.suppress(psycopg.Error):
            conn.execute("SELECT pg_stat_force_next_flush()")
        conn.rollback()


# --- checks ----------------------------------------------------------------------------------


def answers_wrong(run: Run, plan: list[tuple[dict, str]]) -> list[str]:
    """Requests not answered 201 with the points and growth of their amount."""
    wrong = []
    for (status, body), (sent, _key) in zip(run.results, plan, strict=True):
        want = floor(Decimal(sent["paid_amount"]))
        try:
            totals = json.loads(body)["award"]["totals"] if status == 201 else None
        except (ValueError, KeyError, TypeError):
            totals = None
        if status != 201 or totals != {"points": want, "growth": want}:
            wrong.append(f"{status} {body[:300]!r}")
    return wrong


# --- main ----------------------------------------------------------------------------------


RISK_ROUNDS = 3


def risk_runs(pool: Pool, key: str, args) -> list[tuple[bool, Run]]:
    """Ours again on new plans of the same members, alternately without and with the starter risk
    rules on (one of them checked as each purchase arrives), without first and last: (rules on,
    run) in order. Each worker reloads its rule book (and with it the rules) within
    RULE_BOOK_CACHE_SECONDS of a switch."""
    starter_rules(active=False)
    runs = []
    for n in range(2 * RISK_ROUNDS + 1):
        active = n % 2 == 1
        RiskRule.objects.update(active=active)
        time.sleep(settings.RULE_BOOK_CACHE_SECONDS + 1)
        run = ours(pool, key, args.concurrency, make_plan(OURS, args.requests, args.members, seed=3 + n))
        runs.append((active, run))
        say(f"ours {'with' if active else 'without'} rules: {args.requests:,} purchases in {run.wall:.1f}s")
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--members", type=int, default=2000, help="members per variant")
    parser.add_argument("--requests", type=int, default=2000, help="purchases per variant, timed")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (and SQL connections)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--worker-class", choices=["sync", "gthread"], default="sync")
    parser.add_argument("--threads", type=int, default=2, help="threads per worker (gthread only)")
    parser.add_argument("--warmup", type=int, default=100, help="purchases per variant before timing")
    parser.add_argument("--segment-campaign", action="store_true", help="a campaign for a dynamic segment")
    parser.add_argument(
        "--webhooks", action="store_true", help="the partner subscribes to every webhook event"
    )
    parser.add_argument(
        "--risk-rules", action="store_true", help="then ours without, with and without the starter risk rules"
    )
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Run this against PostgreSQL (tests/pgcluster.py, or DATABASE_URL=postgres://...).")
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    if Member.objects.exists() or Award.objects.exists():
        sys.exit("Run this on an empty database: it seeds its own members, partner and purchases.")
    settings.DEBUG = False  # no query log in this process
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # so that gunicorn is stopped too
    find_postmaster()
    partner_id, key, store_id = set_up(args.members, args.webhooks)
    if args.segment_campaign:
        segment_campaign()
    say(f"set-up: {2 * args.members:,} members with accounts and tier rows, partner and key")
    plans = {p: make_plan(p, args.requests, args.members, seed=1) for p in (OURS, CEILING)}
    warm = {p: make_plan(p, args.warmup, args.members, seed=2) for p in (OURS, CEILING)}
    runs, counts = {}, {}
    with tempfile.TemporaryDirectory(prefix="api_load-") as work:
        server = Server(args.workers, args.worker_class, args.threads, Path(work) / "gunicorn.log")
        http_pool = Pool(lambda: http.client.HTTPConnection("127.0.0.1", server.port, timeout=120))
        sql_pool = Pool(lambda: psycopg.connect(os.environ["DATABASE_URL"]))
        try:
            server.wait_ready()
            say(f"gunicorn up on port {server.port} (log {server.log})")
            warm_ours = ours(http_pool, key, args.concurrency, warm[OURS])
            if bad := answers_wrong(warm_ours, warm[OURS]):
                sys.exit(f"warm-up: {len(bad)} wrong answers, e.g. {bad[0]}\n{server.tail()}")
            warmed, answer = time.monotonic(), next(body for _status, body in warm_ours.results)
            ceiling(sql_pool, args.concurrency, warm[CEILING], partner_id, store_id, answer)
            flush_statistics(sql_pool)
            sql("ANALYZE")  # statistics that know the tables have rows, as a running programme's do
            time.sleep(max(0.0, warmed + STATS_IDLE_FLUSH - time.monotonic()))  # the workers' statistics
            counts["before"] = table_stats()
            with WaitSampler(os.environ["DATABASE_URL"]) as waits_ceiling:
                runs[CEILING] = ceiling(sql_pool, args.concurrency, plans[CEILING], partner_id, store_id,
                                        answer)  # fmt: skip
            flush_statistics(sql_pool)
            sql_pool.close()
            say(f"ceiling: {args.requests:,} purchases in {runs[CEILING].wall:.1f}s")
            counts["between"] = table_stats()
            with WaitSampler(os.environ["DATABASE_URL"]) as waits_ours:
                runs[OURS] = ours(http_pool, key, args.concurrency, plans[OURS])
            say(f"ours: {args.requests:,} purchases in {runs[OURS].wall:.1f}s")
            risk = risk_runs(http_pool, key, args) if args.risk_rules else []
        finally:
            http_pool.close()
            sql_pool.close()
            server.stop()
            log = server.tail(2000)
        counts["after"] = table_stats()  # with the server's backends gone, their statistics are in
        runs[CEILING].waits, runs[OURS].waits = waits_ceiling.counts, waits_ours.counts

    wrong = answers_wrong(runs[OURS], plans[OURS])
    done = {p: written(p) for p in plans}
    made = {p: [int(done[p][k].split()[0]) for k in ("purchases: n Σpaid", "awards: n")] for p in plans}
    stored = {p: stored_answers([k for _body, k in plans[p]]) for p in plans}
    n = args.requests
    checks = [
        ("ours: answers not 201 with their amount's points and growth", len(wrong), 0),
        ("ours: purchases, awards, stored 201 answers", [*made[OURS], stored[OURS]], [n, n, n]),
        ("ceiling: purchases, awards, stored 201 answers", [*made[CEILING], stored[CEILING]], [n, n, n]),
        ("tables where the ceiling wrote other rows than ours",
         [k for k in done[OURS] if done[OURS][k] != done[CEILING][k]], []),
        ("accounts with ledger problems (balance ≠ Σ entries, lots, …)", len(ledger_problems()), 0),
    ]  # fmt: skip
    report(args, server, runs, counts, checks, done[OURS], wrong, log, time.perf_counter() - started)
    if risk:
        risk_report(risk)
    assert all(got == want for _label, got, want in checks), checks


if __name__ == "__main__":
    main()
