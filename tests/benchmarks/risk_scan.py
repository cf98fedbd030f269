"""The nightly risk scan at scale: each starter rule over one day of a programme seeded by
``manage.py seed_scale`` (a million members, about 30 million points entries), against the
floor (reading the day's facts, each table once, in plain SQL) and the naive way (a pass over
the whole ledger); then the scan itself (writing its cases) and each rule's simulation over 30
days. With ``--plant``, the planted-fraud month (``campaigns.risk.planted``, no extra ordinary
members) is added first, and the share of the seeded members flagged is reported.

    DEBUG=1 DATABASE_URL=postgres://... .venv/bin/python tests/benchmarks/risk_scan.py [--plant]
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

# isort: off
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere
from tests.benchmarks.common import say, sql, table  # sets Django up

from django.utils import timezone

from campaigns.models import RiskCase
from campaigns.risk.detectors import find
from campaigns.risk.planted import generate_month
from campaigns.risk.scan import day_span, risk_scan, rule_span, simulate
from campaigns.risk.starter import starter_rules

DAY = "%(a)s AND {0} < %(b)s"
FLOOR = [
    "SELECT count(*) FROM members_member WHERE created_at >= " + DAY.format("created_at"),
    "SELECT count(*), sum(paid_amount) FROM purchases_purchase WHERE occurred_at >= "
    + DAY.format("occurred_at"),
    "SELECT count(*) FROM purchases_refund WHERE occurred_at >= " + DAY.format("occurred_at"),
    "SELECT count(*) FROM benefits_redemption WHERE created_at >= " + DAY.format("created_at"),
    "SELECT count(*) FROM points_entry WHERE kind = 'transfer' AND created_at >= " + DAY.format("created_at"),
    "SELECT count(*), sum(amount) FROM campaigns_awardline WHERE occurred_at >= " + DAY.format("occurred_at"),
]
NAIVE = "SELECT kind, count(*), sum(amount) FROM points_entry GROUP BY kind"


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plant", action="store_true", help="add the planted-fraud month first")
    args = parser.parse_args()
    (entries,) = sql("SELECT count(*) FROM points_entry")[0]
    (members,) = sql("SELECT count(*) FROM members_member")[0]
    say(f"{members:,} members, {entries:,} points entries")
    rules = starter_rules(active=False)
    month = None
    if args.plant:
        seconds, month = timed(lambda: generate_month(ordinary=0))
        say(f"planted month generated in {seconds:.0f} s")
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    a, b = day_span(yesterday)
    floor = sum(timed(lambda q=q: sql(q, {"a": a, "b": b}))[0] for q in FLOOR)
    naive, _rows = timed(lambda: sql(NAIVE))
    rows = []
    for rule in rules:
        if rule.inline:
            continue
        seconds, found = timed(lambda rule=rule: find(rule, rule_span(rule, yesterday)))
        rows.append([rule.name, f"{rule.lookback_days if rule.kind != 'velocity' else 1}", f"{seconds:.2f}",
                     f"{len(found):,}"])  # fmt: skip
    table(["rule", "days read", "seconds", "members caught"], rows)
    say(f"floor (the day's facts, plain SQL): {floor:.2f} s; naive (a pass over the ledger): {naive:.2f} s")
    for rule in rules:
        rule.active = True
        rule.save(update_fields=["active"])
    seconds, opened = timed(lambda: risk_scan(yesterday))
    say(f"risk_scan({yesterday}) with every rule: {seconds:.1f} s, {sum(opened.values()):,} cases opened")
    start = yesterday - datetime.timedelta(days=29)
    sims = []
    for rule in rules:
        seconds, result = timed(lambda rule=rule: simulate(rule, start, yesterday))
        sims.append([rule.name, f"{seconds:.1f}", f"{len(result.members):,}", f"{result.cases:,}",
                     f"{result.awards_held:,}"])  # fmt: skip
    table(["simulation over 30 days", "seconds", "members", "cases", "awards held"], sims)
    if month is not None:
        flagged = set()
        for rule in rules:
            flagged |= simulate(rule, month.start, yesterday).members
        planted = set().union(*map(set, month.planted.values()))
        caught = planted & flagged
        ordinary = flagged - planted
        active = sql(
            "SELECT count(DISTINCT member_id) FROM purchases_purchase WHERE occurred_at >= %(a)s",
            {"a": day_span(month.start)[0]},
        )[0][0]
        say(f"planted members caught: {len(caught)} of {len(planted)}")
        say(f"seeded members flagged in the month: {len(ordinary):,} of {active:,} who bought "
            f"({len(ordinary) / max(active, 1):.3%})")  # fmt: skip
    say(f"{RiskCase.objects.count():,} cases in the queue")


if __name__ == "__main__":
    main()
