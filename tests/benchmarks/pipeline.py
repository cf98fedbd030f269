"""Earning pipeline throughput: ``purchase_process`` vs raw SQL writing the same rows, on PostgreSQL.

    DEBUG=1 .venv/bin/python tests/pgcluster.py -- .venv/bin/python tests/benchmarks/pipeline.py \
        [--members 5000] [--purchases 5000] [--sample 500]

(or DATABASE_URL=postgres://... on an empty database; the script migrates it itself.)

Rules: the migrations' point types and earning rules (1 point and 1 growth per CNY, rounded down);
tiers 普通会员 ×1 / 银卡 ×1.2 (1,000 growth) / 金卡 ×1.5 (5,000) / 钻石 ×2 (20,000), 60% of members
above the entry tier (MemberTier rows earned last year; the pipeline creates the entry tier's);
three live campaigns: double points; 50 bonus points from 300 CNY paid (budgeted); 0.5 point per
CNY in the mini-program (half the purchases), at most 150 per member. Each variant has its own
members (with both accounts) and the same purchases, recorded beforehand (not timed), in time order:

(b) floor: the rows the pipeline writes (awards, award lines, entries, lots, accounts,
    participations, campaign spending, MemberTier, tier changes), computed beforehand in plain
    Python (not timed), written in one transaction of seven set-based statements;
(a) ours: ``purchase_process(purchase, at=NOW, book=book)`` per purchase, one rule book;
(a') ours with ``book=None`` (the book loaded per purchase) and (c) the naive ORM loop (one
    ``save()`` per row, rules re-read per purchase), on --sample purchases, next to (a) on them.

Checks (asserted): balances equal the award lines; the ledger reconciles; the floor wrote the same
rows as ours (counts and sums per table), and (a'), (c) the same as (a) on the sample; the budget
spent equals the campaign's lines. Last, 50 purchases with their queries captured and the rest of
a sample under cProfile. Query logging is off otherwise (DEBUG=1 only spares us a SECRET_KEY).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import os
import pstats
import random
import sys
import time
from collections import Counter, defaultdict
from decimal import Decimal

# isort: off
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere
from tests.benchmarks.common import local, profile_top, say, sql, statement_kind, stopwatch, table
from tests.benchmarks.pipeline_floor import (
    CAMPAIGNS,
    CHANNEL,
    JOINED,
    LADDER,
    NOW,
    PERIOD_END,
    PERIOD_START,
    RANK_WEIGHTS,
    floor,
    floor_params,
    floor_write,
    upgrade_key,
)
# isort: on

from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import F, Sum
from django.test.utils import CaptureQueriesContext

from campaigns import selectors
from campaigns.earning.pipeline import purchase_process
from campaigns.models import Award, AwardLine, Campaign, EarnRule, Participation
from members.models import Channel, Member
from members.purchases.models import Purchase
from members.purchases.services import Line, purchase_record
from points import policy
from points.models import Account, Entry, Lot, PointType
from points.selectors import ledger_problems
from tiers import periods
from tiers.models import MemberTier, Tier, TierChange, TierPolicy

# --- set-up --------------------------------------------------------------------------------


def set_up_rules() -> dict[str, Campaign]:
    for rank, code, name, threshold, multiplier in LADDER:
        defaults = {"code": code, "name": name, "threshold": threshold, "earn_multiplier": multiplier}
        Tier.objects.update_or_create(rank=rank, defaults=defaults)
    TierPolicy.objects.filter(pk=1).update(metric="growth", window="calendar", downgrade="one_level")
    assert EarnRule.objects.filter(active=True).count() == 2, "the migration's default rules only"
    return {
        code: Campaign.objects.create(code=f"bench-{code}", status=Campaign.Status.ACTIVE,
                                      starts_at=local(2026, 11, 1), ends_at=local(2026, 12, 1), **fields)
        for code, fields in CAMPAIGNS.items()
    }  # fmt: skip


def make_plan(members: int, purchases: int, seed: int) -> tuple[list[int], list[tuple]]:
    """Members' ranks; purchases (member index, paid, channel, at) in time order, median 250 CNY."""
    rng = random.Random(seed)
    ranks = rng.choices(range(4), RANK_WEIGHTS, k=members)
    buys = []
    for _ in range(purchases):
        paid = Decimal(min(max(rng.lognormvariate(5.5, 1.0), 10), 8000)).quantize(Decimal("0.01"))
        channel = CHANNEL if rng.random() < 0.5 else Channel.STORE
        at = NOW - datetime.timedelta(seconds=rng.randint(3600, 20 * 86400))
        buys.append((rng.randrange(members), paid, channel, at))
    return ranks, sorted(buys, key=lambda buy: buy[3])


def make_cohort(prefix: str, ranks: list[int], buys: list[tuple]) -> list[Purchase]:
    """Members ``prefix…`` with both accounts and their tier rows, then the purchases recorded one by one."""
    numbers = [f"{prefix}{i:07d}" for i in range(len(ranks))]
    Member.objects.bulk_create(Member(member_number=n, name=f"压测{n[-4:]}") for n in numbers)
    Member.objects.filter(member_number__startswith=prefix).update(created_at=JOINED)
    members = list(Member.objects.filter(member_number__startswith=prefix).order_by("member_number"))
    tiers = {tier.rank: tier for tier in Tier.objects.all()}
    MemberTier.objects.bulk_create(
        MemberTier(member=m, tier=tiers[r], earned_tier=tiers[r], since=PERIOD_START,
                   period_start=PERIOD_START, valid_until=PERIOD_END)
        for m, r in zip(members, ranks, strict=True) if r
    )  # fmt: skip
    types = list(PointType.objects.all())
    Account.objects.bulk_create(Account(member=m, point_type=t) for m in members for t in types)
    return [
        purchase_record(member=members[member], source="bench", order_number=f"{prefix}-{n:07d}",
                        channel=channel, occurred_at=at, gross_amount=paid, paid_amount=paid, now=NOW,
                        lines=[Line(sku=f"SKU{n % 97}", amount=paid, category="服装")])[0]
        for n, (member, paid, channel, at) in enumerate(buys)
    ]  # fmt: skip


# --- (c) the naive way ---------------------------------------------------------------------


def naive_process(purchase: Purchase) -> None:
    """The obvious way: one transaction; rules, campaigns and tier re-read; one ``save()`` per row."""
    key, at, eligible = f"purchase:{purchase.pk}", purchase.occurred_at, purchase.eligible_amount
    with transaction.atomic():
        member = Member.objects.select_for_update().get(pk=purchase.member_id)
        if Award.objects.filter(key=key).exists():
            return
        status = MemberTier.objects.select_related("tier").filter(member=member).first()
        tier = status.tier if status else Tier.objects.get(rank=0)
        award = Award.objects.create(key=key, kind="purchase", member=member, purchase=purchase,
                                     reason=str(purchase)[:100], occurred_at=at, created_at=NOW)  # fmt: skip
        totals, base = defaultdict(int), {}

        def give(kind: str, point_type: PointType, amount: int, campaign: Campaign | None = None) -> None:
            AwardLine.objects.create(award=award, member=member, kind=kind, point_type=point_type,
                                     amount=amount, campaign=campaign, occurred_at=at, params={"naive": kind},
                                     cny=amount * point_type.cny_value if campaign else 0)  # fmt: skip
            totals[point_type] += amount

        for rule in EarnRule.objects.filter(active=True, channel="", store=None).select_related("point_type"):
            base[rule.point_type.code] = floor(eligible * rule.rate)
            give("base", rule.point_type, base[rule.point_type.code])
        points = PointType.objects.get(code="points")
        if extra := floor(base["points"] * (tier.earn_multiplier - 1)):
            give("tier", points, extra)
        live = Campaign.objects.filter(status="active", trigger="purchase", starts_at__lte=at, ends_at__gt=at)
        for campaign in live.order_by("-priority", "id"):
            if (campaign.channels and purchase.channel not in campaign.channels) or (
                campaign.min_paid is not None and purchase.paid_amount < campaign.min_paid
            ):
                continue
            amount = campaign.bonus_points + floor(eligible * (campaign.points_per_cny or 0))
            amount += floor(base["points"] * (campaign.multiplier - 1)) if campaign.multiplier else 0
            if campaign.member_max_points is not None:
                given = AwardLine.objects.filter(campaign=campaign, member=member).aggregate(
                    total=Sum("amount")
                )
                amount = min(amount, campaign.member_max_points - (given["total"] or 0))
            if campaign.budget_points is not None:
                campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
                amount = min(amount, campaign.budget_points - campaign.spent_points)
            if amount > 0:
                give("campaign", points, amount, campaign)
                Participation.objects.get_or_create(
                    campaign=campaign, member=member, defaults={"first_at": at}
                )
                if campaign.budget_points is not None:  # not save(): that would add a history row each time
                    cny = amount * points.cny_value
                    Campaign.objects.filter(pk=campaign.pk).update(
                        spent_points=F("spent_points") + amount, spent_cny=F("spent_cny") + cny
                    )
        for point_type, amount in sorted(totals.items(), key=lambda item: item[0].code):
            account = Account.objects.select_for_update().get(member=member, point_type=point_type)
            available_at = policy.available_at(point_type, at)
            pending = available_at > NOW
            account.pending += amount if pending else 0
            account.available += 0 if pending else amount
            account.earned += amount
            entry = Entry.objects.create(account=account, kind="earn", amount=amount, source="purchase",
                                         balance_after=account.balance, source_ref=key, created_at=NOW,
                                         reason=award.reason,
                                         idempotency_key=f"{key}:{point_type.code}")  # fmt: skip
            Lot.objects.create(account=account, entry=entry, source="purchase", source_ref=key, amount=amount,
                               remaining=amount, status="pending" if pending else "available",
                               available_at=available_at,
                               expires_at=policy.expires_at(point_type, NOW))  # fmt: skip
            account.save()
        if status is None:
            start, end = periods.current_period(TierPolicy.current(), member, NOW)
            status = MemberTier.objects.create(member=member, tier=tier, earned_tier=tier,
                                               since=member.created_at, period_start=start,
                                               valid_until=end)  # fmt: skip
        growth = Entry.objects.filter(account__member=member, account__point_type__code="growth",
                                      created_at__gte=status.period_start).aggregate(total=Sum("amount"))[
            "total"]  # fmt: skip
        target = Tier.objects.filter(threshold__lte=growth).order_by("-rank").first()
        if target.rank > status.earned_tier.rank:
            TierChange.objects.create(member=member, from_tier=status.tier, to_tier=target, at=NOW,
                                      earned_tier=target, reason="upgrade", metric=growth)  # fmt: skip
            Award.objects.create(key=upgrade_key(member.pk, target.code), kind="lifecycle", member=member,
                                 reason=str(Campaign.Trigger.TIER_UPGRADE.label), cause=award,
                                 occurred_at=NOW, created_at=NOW)  # fmt: skip
            status.tier, status.earned_tier, status.since = target, target, NOW
            status.save()


# --- checks --------------------------------------------------------------------------------


COHORT = "JOIN members_member m ON m.id = x.member_id WHERE m.member_number LIKE %(prefix)s"
SUMMARY = {  # what a cohort's members got, per table
    "awards": f"SELECT count(*) FROM campaigns_award x {COHORT}",
    "award lines: kind n Σ": "SELECT kind, count(*), sum(amount)"
    f" FROM campaigns_awardline x {COHORT} GROUP BY 1",
    "entries: type n Σ Σbalance_after": "SELECT t.code, count(*), sum(e.amount), sum(e.balance_after)"
    f" FROM points_entry e JOIN points_account x ON x.id = e.account_id JOIN points_pointtype t"
    f" ON t.id = x.point_type_id {COHORT} GROUP BY 1",
    "lots: status n Σ expiring": "SELECT l.status, count(*), sum(l.remaining), count(l.expires_at)"
    f" FROM points_lot l JOIN points_account x ON x.id = l.account_id {COHORT} GROUP BY 1",
    "accounts: Σavailable Σpending Σearned": "SELECT sum(available), sum(pending), sum(earned)"
    f" FROM points_account x {COHORT}",
    "participations: campaign n": "SELECT c.code, count(*) FROM campaigns_participation x"
    f" JOIN campaigns_campaign c ON c.id = x.campaign_id {COHORT} GROUP BY 1",
    "member tiers: tier n changed-now": "SELECT t.code, count(*), count(*) FILTER (WHERE x.since = %(now)s)"
    f" FROM tiers_membertier x JOIN tiers_tier t ON t.id = x.tier_id {COHORT} GROUP BY 1",
    "tier changes: n Σmetric": f"SELECT count(*), sum(metric) FROM tiers_tierchange x {COHORT}",
}
BALANCE_VS_LINES = """SELECT count(*) FROM points_account a LEFT JOIN (
    SELECT member_id, point_type_id, sum(amount) AS total FROM campaigns_awardline GROUP BY 1, 2
) l ON (l.member_id, l.point_type_id) = (a.member_id, a.point_type_id)
WHERE a.available + a.pending <> COALESCE(l.total, 0)"""


def summary(prefix: str) -> dict[str, str]:
    rows = {
        label: sorted(sql(query, {"prefix": f"{prefix}%", "now": NOW})) for label, query in SUMMARY.items()
    }
    return {label: "; ".join(" ".join(map(str, row)) for row in got) for label, got in rows.items()}


# --- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--members", type=int, default=5_000)
    parser.add_argument("--purchases", type=int, default=5_000)
    parser.add_argument("--sample", type=int, default=500, help="purchases for (a'), (c) and the profile")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Run this against PostgreSQL (tests/pgcluster.py, or DATABASE_URL=postgres://...).")
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    if Member.objects.exists() or Award.objects.exists():
        sys.exit("Run this on an empty database: it seeds its own members, rules and purchases.")
    settings.DEBUG = False  # no query log: it would tax every query of every variant
    campaigns = set_up_rules()
    full = make_plan(args.members, args.purchases, seed=1)
    sample = make_plan(max(1, args.members * args.sample // args.purchases), args.sample, seed=2)
    cohorts = {}  # (b) floor, (a) ours; on the sample: (a), (a'), (c), and the profiled run
    for prefix in ("PF", "PO", "PS", "PB", "PN", "PP"):
        recording, plan = time.perf_counter(), full if prefix in ("PF", "PO") else sample
        cohorts[prefix] = make_cohort(prefix, *plan)
        say(f"{prefix}: recorded {len(plan[1]):,} purchases in {time.perf_counter() - recording:.1f}s")
    sql("VACUUM ANALYZE")

    prep = time.perf_counter()
    params = floor_params(cohorts["PF"], campaigns)
    say(f"floor: rows computed in {time.perf_counter() - prep:.1f}s (not timed)")
    book, in_db = selectors.rule_book(), [0.0]

    def clock(execute, *args):  # wall time inside cursor.execute (the rest: Python and commits)
        start = time.perf_counter()
        try:
            return execute(*args)
        finally:
            in_db[0] += time.perf_counter() - start

    times, blocks = {"PF": stopwatch(lambda: floor_write(params))}, []
    with connection.execute_wrapper(clock):  # in blocks of 1,000: does it slow down as it goes?
        for start in range(0, args.purchases, 1000):
            chunk = cohorts["PO"][start : start + 1000]
            process = lambda c=chunk: [purchase_process(p, at=NOW, book=book) for p in c]  # noqa: E731
            blocks.append((stopwatch(process), len(chunk)))
    times["PO"] = sum(seconds for seconds, _n in blocks)
    times |= {
        "PS": stopwatch(lambda: [purchase_process(p, at=NOW, book=book) for p in cohorts["PS"]]),
        "PB": stopwatch(lambda: [purchase_process(p, at=NOW) for p in cohorts["PB"]]),
        "PN": stopwatch(lambda: [naive_process(p) for p in cohorts["PN"]]),
    }
    probe, profiled = cohorts["PP"][:50], cohorts["PP"][50:]
    with CaptureQueriesContext(connection) as queries:
        [purchase_process(p, at=NOW, book=book) for p in probe]
    profile = cProfile.Profile()
    profile.runcall(lambda: [purchase_process(p, at=NOW, book=book) for p in profiled])
    stats = pstats.Stats(profile)

    written = {prefix: summary(prefix) for prefix in cohorts}
    bonus = Campaign.objects.get(pk=campaigns["bonus"].pk)
    bonus_lines = AwardLine.objects.filter(campaign=bonus).aggregate(total=Sum("amount"))["total"]
    floor_differs = [k for k, v in written["PO"].items() if v != written["PF"][k]]
    sample_differs = [
        k for k, v in written["PS"].items() if {v} != {written[c][k] for c in ("PB", "PN", "PP")}
    ]
    checks = [
        ("accounts whose balance ≠ Σ award lines", sql(BALANCE_VS_LINES)[0][0], 0),
        ("accounts with ledger problems", len(ledger_problems()), 0),
        ("tables where (b) floor ≠ (a) ours", floor_differs, []),
        ("tables where (a'), (c) or the profiled run ≠ (a), sample", sample_differs, []),
        ("bonus campaign: spent − Σ its lines", bonus.spent_points - bonus_lines, 0),
    ]
    assert all(got == want for _label, got, want in checks), checks

    settings_row = sql("SELECT current_setting('server_version'), current_setting('fsync'),"
                       " current_setting('synchronous_commit')")[0]  # fmt: skip
    print("PostgreSQL {} (fsync={}, synchronous_commit={}), {} CPUs".format(*settings_row, os.cpu_count()))
    print(f"{args.purchases:,} purchases of {args.members:,} members; sample {args.sample:,} of"
          f" {len(sample[0]):,}; each variant its own members, the same purchases\n")  # fmt: skip
    per_floor = times["PF"] / args.purchases
    rows = []
    for prefix, label in (
        ("PF", "(b) floor: raw SQL, 7 set-based statements"),
        ("PO", "(a) ours: purchase_process, one rule book"),
        ("PS", "(a) ours, on the sample"),
        ("PB", "(a') ours, book=None, on the sample"),
        ("PN", "(c) naive ORM loop, on the sample"),
    ):
        seconds, n = times[prefix], len(cohorts[prefix])
        rows.append([label, f"{n:,}", f"{seconds:.2f} s", f"{n / seconds:,.0f}",
                     f"{seconds / n * 1000:.2f} ms", f"×{seconds / n / per_floor:,.1f}"])  # fmt: skip
    table(["variant", "purchases", "time", "purchases/s", "per purchase", "÷ floor"], rows)
    drift = ", ".join(f"{seconds / n * 1000:.1f}" for seconds, n in blocks)
    share = in_db[0] / times["PO"]
    print(f"(a) per purchase by block of 1,000: {drift} ms; {share:.0%} of it inside cursor.execute\n")
    print("What (a) wrote, the same as (b) (asserted)\n")
    table(["rows", "values"], [[label, values] for label, values in written["PO"].items()])

    print(f"Queries of (a) per purchase (CaptureQueriesContext, {len(probe)} purchases):"
          f" {len(queries) / len(probe):.1f}\n")  # fmt: skip
    kinds = Counter(statement_kind(q["sql"]) for q in queries.captured_queries)
    table(["statement", "per purchase"], [[kind, f"{n / len(probe):.2f}"] for kind, n in kinds.most_common()])
    print(f"cProfile of (a) over {len(profiled):,} purchases ({stats.total_tt:.1f} s with the profiler on)\n")
    head = ["calls/purchase", "per purchase", "share"]
    table(["project function, by cumulative time", *head], profile_top(stats, len(profiled), mine=True))
    table(["any function, by own time", *head], profile_top(stats, len(profiled), mine=False))
    print("Checks\n")
    table(["check", "got", "want"], [[label, str(got), str(want)] for label, got, want in checks])
    print(f"total run time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
