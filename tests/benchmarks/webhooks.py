"""Webhook fan-out: 10,000 events delivered to a local receiver by 2 worker processes, on PostgreSQL.

    DEBUG=1 .venv/bin/python tests/pgcluster.py -- .venv/bin/python tests/benchmarks/webhooks.py \
        [--events 10000] [--members 1000] [--workers 2] [--batch 100]

(or DATABASE_URL=postgres://... on an empty database; the script migrates it itself.)

Set-up, timed apart: one first-party partner subscribed to ``points.expiring`` at the receiver
(127.0.0.1 allowed), --members members, and --events events emitted by ``webhook_emit`` in chunks
of 2,000 facts (one transaction each: the outbox's write path, with sequence numbers).

The receiver is a separate process (``ThreadingHTTPServer``, HTTP/1.1 keep-alive, answers 204,
checks the signature of every 100th request with the snippet of docs/api.md). Three variants,
each from the moment the workers start to the last answer:

(a) ours: --workers processes running ``webhooks_deliver_due`` (claim with SKIP LOCKED, signed
    POSTs on kept-alive connections, outcomes written per batch) until every event is delivered;
(b) naive: the same loop, but a new TCP connection per request (no session reuse), as a plain
    ``urllib.request.urlopen`` per event would do;
(c) floor: --workers processes POSTing as many pre-built, pre-signed bodies in a raw loop on one
    kept-alive connection each, no database: what the receiver and the machine allow.

Between variants every event is reset to due. Checks (asserted): each variant delivers exactly
--events events, each once (the receiver counts requests), and every sampled signature verifies.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

# isort: off
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.benchmarks.common import say
# isort: on

from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from members.models import Member
from members.partners.models import PartnerKind
from members.partners.services import partner_create
from members.webhooks import delivery
from members.webhooks.models import EventType, WebhookEndpoint, WebhookEvent
from members.webhooks.services import Fact, endpoint_save, webhook_emit
from tests.webhooks.receiver import verify

SCRIPT = str(Path(__file__).resolve())


# --- the receiver (its own process) -------------------------------------------------------


def receiver_main(port_file: str, secret: str) -> None:
    count = 0
    bad = 0
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            nonlocal count, bad
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                count += 1
                sample = count % 100 == 0
            if sample and not verify(secret, self.headers.get("X-Loyalty-Signature", ""), body):
                with lock:
                    bad += 1
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # the count so far
            payload = json.dumps({"count": count, "bad": bad}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    Path(port_file).write_text(str(server.server_address[1]))
    server.serve_forever()


def receiver_stats(port: int) -> dict[str, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/")
    stats = json.loads(conn.getresponse().read())
    conn.close()
    return stats


# --- the workers (their own processes) ----------------------------------------------------


def worker_main(naive: bool, batch: int) -> None:
    if naive:  # a new connection per request, as without session reuse
        post = delivery.http_post

        def once(target, body, headers):
            try:
                return post(target, body, headers)
            finally:
                delivery._drop(target)

        delivery.http_post = once  # type: ignore[assignment]
    while WebhookEvent.objects.filter(status__in=["pending", "sending"]).exists():
        delivery.webhooks_deliver_due(batch=batch, seconds=600)


def floor_main(port: int, bodies: list[tuple[bytes, str]]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for body, signature in bodies:
        conn.request(
            "POST",
            "/hook",
            body=body,
            headers={"Content-Type": "application/json", "X-Loyalty-Signature": signature},
        )
        response = conn.getresponse()
        response.read()
        assert response.status == 204


# --- the run ------------------------------------------------------------------------------


def set_up(members: int, events: int, url: str) -> tuple[WebhookEndpoint, str, float]:
    partner = partner_create(code="bench", name="压测伙伴", kind=PartnerKind.FIRST_PARTY)
    endpoint, secret = endpoint_save(
        endpoint=WebhookEndpoint(partner=partner, url=url, event_types=[EventType.POINTS_EXPIRING])
    )
    assert secret
    Member.objects.bulk_create(
        [Member(member_number=f"8{i:011d}", name=f"压测{i}") for i in range(members)], batch_size=2000
    )
    ids = list(Member.objects.order_by("pk").values_list("pk", flat=True))
    started = time.perf_counter()
    for start in range(0, events, 2000):
        facts = [
            Fact(
                ids[i % len(ids)],
                f"lot-{i}",
                {"point_type": "points", "points": 100 + i % 50, "expires_on": "2026-12-31"},
            )
            for i in range(start, min(start + 2000, events))
        ]
        with transaction.atomic():
            webhook_emit(EventType.POINTS_EXPIRING, facts)
    return endpoint, secret, time.perf_counter() - started


def reset() -> None:
    WebhookEvent.objects.update(status="pending", attempts=0, next_try_at=timezone.now(), claimed_at=None,
                                delivered_at=None, response_code=None)  # fmt: skip


def run_workers(workers: int, naive: bool, batch: int, events: int, port: int) -> float:
    before = receiver_stats(port)["count"]
    connection.close()  # the children open their own
    context = multiprocessing.get_context("fork")
    procs = [context.Process(target=worker_main, args=(naive, batch)) for _ in range(workers)]
    started = time.perf_counter()
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
        assert proc.exitcode == 0, "a worker failed"
    took = time.perf_counter() - started
    delivered = WebhookEvent.objects.filter(status="delivered").count()
    received = receiver_stats(port)["count"] - before
    assert delivered == events, f"{delivered} delivered of {events}"
    assert received == events, f"the receiver got {received} requests for {events} events"
    return took


def run_floor(workers: int, events: int, port: int, endpoint: WebhookEndpoint) -> float:
    now = timezone.now()
    bodies = [
        (body.encode(), delivery.signature_header(endpoint, body.encode(), int(time.time()), now))
        for body in WebhookEvent.objects.order_by("pk").values_list("body", flat=True)[:events]
    ]
    share = [bodies[i::workers] for i in range(workers)]
    before = receiver_stats(port)["count"]
    connection.close()
    context = multiprocessing.get_context("fork")
    procs = [context.Process(target=floor_main, args=(port, part)) for part in share]
    started = time.perf_counter()
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
        assert proc.exitcode == 0
    took = time.perf_counter() - started
    assert receiver_stats(port)["count"] - before == events
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Run this against PostgreSQL (tests/pgcluster.py, or DATABASE_URL=postgres://...).")
    call_command("migrate", verbosity=0)
    if Member.objects.exists():
        sys.exit("Run this on an empty database.")
    settings.DEBUG = False
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    port_file = Path(f"/tmp/webhooks-bench-port-{os.getpid()}")
    # the receiver needs the secret, which the set-up makes: start it on a placeholder URL first
    endpoint_url = "http://127.0.0.1:1/hook"
    endpoint, secret, emit_s = set_up(args.members, args.events, endpoint_url)
    receiver = subprocess.Popen([sys.executable, SCRIPT, "--receiver", str(port_file), secret])
    try:
        for _ in range(100):
            if port_file.exists() and port_file.read_text():
                break
            time.sleep(0.1)
        port = int(port_file.read_text())
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url=f"http://127.0.0.1:{port}/hook")
        endpoint.refresh_from_db()
        say(f"set-up: {args.members:,} members, {args.events:,} events emitted in {emit_s:.2f}s "
            f"({args.events / emit_s:,.0f}/s); receiver on port {port}")  # fmt: skip
        results = {}
        reset()
        results["ours"] = run_workers(args.workers, False, args.batch, args.events, port)
        say(f"ours: {results['ours']:.2f}s")
        reset()
        results["naive"] = run_workers(args.workers, True, args.batch, args.events, port)
        say(f"naive: {results['naive']:.2f}s")
        results["floor"] = run_floor(args.workers, args.events, port, endpoint)
        say(f"floor: {results['floor']:.2f}s")
        stats = receiver_stats(port)
    finally:
        receiver.terminate()
        receiver.wait()
        port_file.unlink(missing_ok=True)
    assert stats["bad"] == 0, f"{stats['bad']} sampled signatures did not verify"
    rate = {name: args.events / took for name, took in results.items()}
    version = connection.cursor().connection.info.server_version
    print(f"\nWebhook fan-out: {args.events:,} events, {args.workers} worker processes, batch {args.batch}, "
          f"PostgreSQL {version}, {os.cpu_count()} CPUs\n")  # fmt: skip
    print(f"{'variant':<52}{'wall s':>8}{'events/s':>10}")
    labels = {
        "ours": "ours: webhooks_deliver_due, keep-alive",
        "naive": "naive: same loop, a new connection per request",
        "floor": "floor: raw POST loop, pre-signed, no database",
    }
    for name in ("ours", "naive", "floor"):
        print(f"{labels[name]:<52}{results[name]:>8.2f}{rate[name]:>10,.0f}")
    print(
        f"\nours ÷ naive: ×{rate['ours'] / rate['naive']:.2f}   "
        f"ours ÷ floor: ×{rate['ours'] / rate['floor']:.2f}"
    )
    print(f"emission (webhook_emit, chunks of 2,000 facts): {args.events / emit_s:,.0f} events/s")
    print(
        f"signatures verified by the receiver (every 100th request, three variants): {stats['count'] // 100}"
    )
    print(f"target ≥ 500 events/s: {'met' if rate['ours'] >= 500 else 'NOT met'}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--receiver":
        receiver_main(sys.argv[2], sys.argv[3])
    else:
        main()
