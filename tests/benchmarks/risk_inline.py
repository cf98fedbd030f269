"""What the inline risk checks add to a purchase, in process, on PostgreSQL: ``purchase_process``
with the rule book of a programme without risk rules and with the starter rules' inline ones,
in alternating blocks (so the machine's drift falls on both), and the check alone
(``velocity_fired``) against its query in plain SQL (the floor).

    DEBUG=1 .venv/bin/python tests/pgcluster.py -- .venv/bin/python tests/benchmarks/risk_inline.py \
        [--members 2000] [--purchases 6000] [--block 500]

(or DATABASE_URL=postgres://... on an empty database; the script migrates it itself.) Set-up, not
timed: --members members, each with --purchases / --members purchases recorded within the last
day (the window the rules read), processed in time order. ``api_load.py --risk-rules`` measures
the same through gunicorn; this is the quiet, per-purchase figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

# isort: off
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere
from tests.benchmarks.common import say, sql, table  # sets Django up

# isort: on
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from campaigns.earning import engine
from campaigns.earning.pipeline import purchase_process
from campaigns.models import Award, RiskRule
from campaigns.risk.inline import inline_rules, velocity_fired
from campaigns.risk.starter import starter_rules
from campaigns.selectors import rule_book
from members.models import Channel, Member
from members.purchases.models import Purchase
from members.purchases.services import purchase_record
from points.selectors import ledger_problems
from tests.factories import MemberFactory, StoreFactory

FLOOR = """
    SELECT a.id, a.member_id, a.occurred_at, sum(l.amount) FILTER (WHERE t.code = 'points')
    FROM campaigns_award a
    LEFT JOIN campaigns_awardline l ON l.award_id = a.id
    LEFT JOIN points_pointtype t ON t.id = l.point_type_id
    WHERE a.kind = 'purchase' AND a.member_id = %s AND a.occurred_at > %s AND a.occurred_at <= %s
    GROUP BY a.id, a.member_id, a.occurred_at"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--purchases", type=int, default=6000)
    parser.add_argument("--block", type=int, default=500)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Run this against PostgreSQL (tests/pgcluster.py, or DATABASE_URL=postgres://...).")
    call_command("migrate", verbosity=0)
    settings.DEBUG = False
    store = StoreFactory(code="B001")
    members = [MemberFactory() for _ in range(args.members)]
    rng, now = random.Random(1), timezone.now()
    purchases = []
    for n in range(args.purchases):
        at = now - datetime.timedelta(seconds=rng.randint(60, 86_000))
        paid = Decimal(rng.randint(1000, 80000)) / 100
        purchase, _new = purchase_record(
            member=members[n % args.members], source="bench", order_number=f"B-{n:07d}",
            channel=Channel.STORE, store=store, occurred_at=at, gross_amount=paid, paid_amount=paid,
        )  # fmt: skip
        purchases.append(purchase)
    purchases.sort(key=lambda p: p.occurred_at)
    starter_rules(active=True)
    with_rules = rule_book()
    without = dataclasses.replace(with_rules, risk_rules=[])
    say(f"{args.members:,} members, {len(purchases):,} purchases; inline rules: "
        + ", ".join(r.name for r in with_rules.risk_rules))  # fmt: skip

    times: dict[str, list[float]] = {"without rules": [], "with rules": []}
    cpu: dict[str, list[float]] = {"without rules": [], "with rules": []}
    for start in range(0, len(purchases), args.block):
        label, book = ("with rules", with_rules) if (start // args.block) % 2 else ("without rules", without)
        for purchase in purchases[start : start + args.block]:
            wall, process = time.perf_counter(), time.process_time()
            purchase_process(purchase, at=now, book=book)
            times[label].append(time.perf_counter() - wall)
            cpu[label].append(time.process_time() - process)
    rows = [
        [label, f"{len(times[label]):,}", f"{statistics.mean(times[label]) * 1000:.2f}",
         f"{statistics.median(times[label]) * 1000:.2f}", f"{statistics.mean(cpu[label]) * 1000:.2f}"]
        for label in times
    ]  # fmt: skip
    table(["purchase_process", "purchases", "mean ms", "median ms", "app CPU ms"], rows)
    added = statistics.mean(times["with rules"]) - statistics.mean(times["without rules"])
    added_cpu = statistics.mean(cpu["with rules"]) - statistics.mean(cpu["without rules"])
    say(f"the inline checks add {added * 1000:+.3f} ms per purchase ({added_cpu * 1000:+.3f} ms of app CPU)")

    # the check alone, on purchases already earned (their awards read back), against its SQL
    rules = inline_rules()
    awards = list(Award.objects.filter(kind=Award.Kind.PURCHASE).order_by("?")[:2000])
    outcome = engine.Outcome()
    ours, floor = [], []
    with connection.cursor() as cursor:
        for award in awards:
            started = time.perf_counter()
            unwritten = Award(kind=award.kind, member_id=award.member_id, occurred_at=award.occurred_at)
            velocity_fired([(unwritten, outcome)], rules)
            ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            since = award.occurred_at - datetime.timedelta(days=1)
            cursor.execute(FLOOR, [award.member_id, since, award.occurred_at])
            cursor.fetchall()
            floor.append(time.perf_counter() - started)
    table(
        ["the check alone", "calls", "median ms", "p95 ms"],
        [[name, f"{len(v):,}", f"{statistics.median(v) * 1000:.3f}",
          f"{sorted(v)[int(len(v) * 0.95)] * 1000:.3f}"]
         for name, v in (("velocity_fired", ours), ("its query in plain SQL", floor))],
    )  # fmt: skip
    assert ledger_problems() == {}
    assert Purchase.objects.count() == len(purchases) and Member.objects.count() == args.members
    held = sql("SELECT count(*) FROM campaigns_awardreview WHERE reason = 'risk_rule'")[0][0]
    say(f"awards held by a risk rule: {held:,}; rules: {RiskRule.objects.filter(active=True).count()} active")


if __name__ == "__main__":
    main()
