"""Demo tiers (``TiersConfig.demo_seed``): the ladder, the policy, the PLUS paid plan, a few
subscriptions, the upgrades the demo growth earns and one status match, all through the tier
services.

The points demo has posted the growth already; the earning pipeline would have called
``tier_refresh`` after each purchase. Here it is called at the purchases that crossed a
threshold within their calendar year (a refresh elsewhere changes nothing), then once more
now for every member with a tier status, which runs the period-end review of last year.
Each member's calls go in time order, subscriptions included.
"""

from __future__ import annotations

import datetime
import random
from collections import defaultdict
from decimal import Decimal

from django.utils import timezone

from members.demo import DemoRun
from members.models import Member
from points.models import Entry
from tiers.models import MemberTier, Plan, RefundPolicy, Tier, TierPolicy
from tiers.selectors import growth_entries, ladder
from tiers.services import tier_override, tier_refresh
from tiers.subscriptions import subscription_cancel, subscription_start

# code, name, growth threshold, earn multiplier, description; the entry tier (rank 0) comes
# from the migration
LADDER = [
    ("silver", "银卡", 1_000, "1.20", "年度成长值满 1,000"),
    ("gold", "金卡", 5_000, "1.50", "年度成长值满 5,000"),
    ("diamond", "钻石", 20_000, "2.00", "年度成长值满 20,000"),
]
PLUS = {
    "name": "PLUS会员",
    "price": Decimal("199.00"),
    "duration_months": 12,
    "auto_renew": True,
    "refund_policy": RefundPolicy.DAYS,  # ended early: the unused days back
}
SUBSCRIBERS, MAX_SUBSCRIBERS = 0.01, 30  # share of the new active members; at least 3
STATUS_MATCH_DAYS = 90
STATUS_MATCH_REASON = "等级匹配：会员出示竞品品牌黑卡会籍证明，匹配钻石 90 天"


def seed(run: DemoRun) -> str:
    rng = run.rng("tiers")
    tiers = ensure_ladder()
    plan = ensure_plan(tiers["gold"])
    timeline: dict[int, list[tuple[datetime.datetime, str]]] = defaultdict(list)
    for member_id, at in _crossings(run, ladder()):
        timeline[member_id].append((at, "refresh"))
    subscribers = _pick(run, rng, max(3, min(MAX_SUBSCRIBERS, round(run.members.count() * SUBSCRIBERS))))
    for n, member_id in enumerate(subscribers):
        started = _shop_time(rng, run.now - datetime.timedelta(days=rng.randint(3, 330)), run.now)
        timeline[member_id].append((started, "subscribe"))
        if n == 0:  # one member has turned auto-renewal off since
            timeline[member_id].append((started + (run.now - started) / 2, "cancel"))
    members = Member.objects.in_bulk(list(timeline))
    operator = run.users.get("operator")
    refreshed = 0
    for member_id in sorted(timeline):
        member, subscription = members[member_id], None
        for at, action in sorted(timeline[member_id]):
            if action == "refresh":
                tier_refresh(member, at=at)
                refreshed += 1
            elif action == "subscribe":
                ref = f"DEMO-PAY-{member.member_number}"
                subscription = subscription_start(member, plan=plan, payment_ref=ref, at=at)
            elif subscription is not None:
                subscription_cancel(subscription, actor=operator, reason="会员申请关闭自动续费", at=at)
        tier_refresh(member, at=run.now)  # catches up with the review of last year's period
    matched = _status_match(run, rng, tiers["diamond"], exclude=set(timeline))
    counts = _counts(run)
    return (
        f"{refreshed + len(timeline):,} refreshes, {len(subscribers)} PLUS subscriptions, "
        f"{matched} status match; {counts}"
    )


def ensure_ladder() -> dict[str, Tier]:
    """The demo ladder by code. A fresh programme (no demo tier yet) also gets the policy."""
    tiers = {"entry": ladder()[0]}
    created = False
    for rank, (code, name, threshold, multiplier, description) in enumerate(LADDER, start=1):
        defaults = {
            "rank": rank,
            "name": name,
            "threshold": threshold,
            "earn_multiplier": Decimal(multiplier),
            "description": description,
        }
        tiers[code], made = Tier.objects.get_or_create(code=code, defaults=defaults)
        created |= made
    if created:
        policy = TierPolicy.current()
        policy.metric = TierPolicy.Metric.GROWTH
        policy.window = TierPolicy.Window.CALENDAR
        policy.downgrade = TierPolicy.Downgrade.ONE_LEVEL
        policy.grace_days = 30
        policy.save()
    return tiers


def ensure_plan(tier: Tier) -> Plan:
    return Plan.objects.get_or_create(code="plus", defaults={**PLUS, "tier": tier})[0]


def _crossings(run: DemoRun, tiers: list[Tier]):
    """(member id, time) of each growth entry that took the member's calendar-year growth over
    a tier threshold."""
    thresholds = sorted({tier.threshold for tier in tiers if tier.threshold > 0})
    if not thresholds:
        return
    rows = (
        growth_entries()
        .filter(kind=Entry.Kind.EARN, account__member__in=run.members.values("pk"))
        .order_by("account__member_id", "created_at", "id")
        .values_list("account__member_id", "created_at", "amount")
    )
    last_key, total = None, 0
    for member_id, at, amount in rows.iterator(chunk_size=2000):
        key = (member_id, timezone.localtime(at).year)
        if key != last_key:
            last_key, total = key, 0
        before, total = total, total + amount
        if any(before < threshold <= total for threshold in thresholds):
            yield member_id, at


def _pick(run: DemoRun, rng: random.Random, wanted: int) -> list[int]:
    """Ids of ``wanted`` random active members of the run."""
    ids = list(run.members.filter(status=Member.Status.ACTIVE).values_list("pk", flat=True)[:20_000])
    return sorted(rng.sample(ids, min(wanted, len(ids))))


def _shop_time(rng: random.Random, moment: datetime.datetime, now: datetime.datetime) -> datetime.datetime:
    local = timezone.localtime(moment)
    return min(
        now, local.replace(hour=rng.randint(10, 21), minute=rng.randint(0, 59), second=0, microsecond=0)
    )


def _status_match(run: DemoRun, rng: random.Random, tier: Tier, *, exclude: set[int]) -> int:
    """One active member in the entry tier is matched to 钻石 for 90 days by the operator."""
    candidates = [pk for pk in _pick(run, rng, 50) if pk not in exclude]
    if not candidates:
        return 0
    member = Member.objects.get(pk=rng.choice(candidates))
    tier_override(
        member,
        tier=tier,
        until=run.now + datetime.timedelta(days=STATUS_MATCH_DAYS),
        reason=STATUS_MATCH_REASON,
        actor=run.users.get("operator"),
        at=run.now,
    )
    return 1


def _counts(run: DemoRun) -> str:
    statuses = MemberTier.objects.filter(member__in=run.members.values("pk"), tier__rank__gt=0)
    counts: defaultdict[str, int] = defaultdict(int)
    for name in statuses.values_list("tier__name", flat=True).order_by("tier__rank"):
        counts[name] += 1
    return ", ".join(f"{name} {count:,}" for name, count in counts.items()) or "no one above the entry tier"
