"""The earning benchmark's programme (tests/benchmarks/pipeline.py): its tiers and campaigns, and
the floor, every row the pipeline writes computed by those rules by hand and written set-based."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from decimal import ROUND_FLOOR, Decimal

# isort: off
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere
from tests.benchmarks.common import local
# isort: on

from django.db import connection, transaction

from campaigns.models import Campaign
from members.models import Channel
from members.purchases.models import Purchase
from points import policy
from points.models import Account, PointType, Source
from points.services.common import fingerprint
from tiers.models import MemberTier, Tier

NOW = local(2026, 11, 21, 10, 0)  # processing time (``at``); the purchases are from the 20 days before
JOINED, PERIOD_START, PERIOD_END = local(2025, 6, 1), local(2026, 1, 1), local(2027, 1, 1)
LADDER = [
    (1, "silver", "银卡", 1000, "1.2"),
    (2, "gold", "金卡", 5000, "1.5"),
    (3, "diamond", "钻石", 20000, "2"),
]
RANK_WEIGHTS = [40, 30, 20, 10]  # share of members per rank
CHANNEL, MIN_PAID, BONUS, PER_CNY, CAP = Channel.WECHAT_MINIPROGRAM, Decimal(300), 50, Decimal("0.5"), 150
CAMPAIGNS = {  # highest priority first: the order the engine applies them in
    "double": {"name": "双倍积分", "priority": 30, "multiplier": Decimal(2)},
    "bonus": {"name": "满300送50", "priority": 20, "min_paid": MIN_PAID, "bonus_points": BONUS,
              "budget_points": 10**12},
    "mp": {"name": "小程序每元加0.5", "priority": 10, "channels": [CHANNEL], "points_per_cny": PER_CNY,
           "member_max_points": CAP},
}  # fmt: skip


def floor(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_FLOOR))


# --- (b) the floor: the rows computed in plain Python beforehand, then only the writes ---------


def floor_params(purchases: list[Purchase], campaigns: dict[str, Campaign]) -> dict[str, object]:
    """Every row the pipeline writes for ``purchases``, by the rules above (not by the engine), as
    one array per column (``table_column``) for the statements below."""
    tiers = list(Tier.objects.order_by("rank"))
    types = {pt.code: pt for pt in PointType.objects.all()}
    ids = [p.member_id for p in purchases]
    status = {s.member_id: s for s in MemberTier.objects.select_related("tier").filter(member_id__in=ids)}
    rank = {m: status[m].tier.rank if m in status else 0 for m in ids}
    accounts = {(a.member_id, a.point_type.code): a.pk for a in Account.objects.filter(member_id__in=ids)}
    balance, growth, capped = defaultdict(int), defaultdict(int), defaultdict(int)
    cache = defaultdict(lambda: [0, 0])  # account: [available, pending] added
    first, tier_rows, cols = {}, {}, defaultdict(list)  # a table with no rows gets empty arrays

    def row(table: str, **values: object) -> None:
        for column, value in values.items():
            cols[f"{table}_{column}"].append(value)

    for p in purchases:
        m, key, reason, eligible = p.member_id, f"purchase:{p.pk}", str(p)[:100], p.eligible_amount
        row("award", key=key, member=m, purchase=p.pk, reason=reason, occurred_at=p.occurred_at)
        base = floor(eligible)
        lines = [("base", "points", base, None), ("base", "growth", base, None)]
        if extra := floor(base * (tiers[rank[m]].earn_multiplier - 1)):
            lines.append(("tier", "points", extra, None))
        lines.append(("campaign", "points", base, campaigns["double"].pk))
        if p.paid_amount >= MIN_PAID:
            lines.append(("campaign", "points", BONUS, campaigns["bonus"].pk))
        if p.channel == CHANNEL and (give := min(floor(eligible * PER_CNY), CAP - capped[m])) > 0:
            capped[m] += give
            lines.append(("campaign", "points", give, campaigns["mp"].pk))
        for kind, code, amount, campaign in lines:
            cny = amount * types["points"].cny_value if campaign else Decimal(0)
            row("line", key=key, kind=kind, type=types[code].pk, amount=amount, campaign=campaign, cny=cny,
                params=json.dumps({"bench": kind}))  # fmt: skip
            if campaign:
                first.setdefault((campaign, m), p.occurred_at)
        for code in ("growth", "points"):  # the order the pipeline posts them in
            amount, account = sum(a for _k, c, a, _c in lines if c == code), accounts[m, code]
            available_at = policy.available_at(types[code], p.occurred_at)
            balance[account] += amount
            cache[account][available_at > NOW] += amount
            digest = fingerprint(op="earn", member=m, type=code, amount=amount, source=Source.PURCHASE,
                                 ref=key, available_at=available_at)  # fmt: skip
            row("entry", account=account, amount=amount, balance_after=balance[account], ref=key,
                reason=reason, key=f"{key}:{code}", digest=digest,
                status="pending" if available_at > NOW else "available",
                available_at=available_at, expires_at=policy.expires_at(types[code], NOW))  # fmt: skip
        growth[m] += base
        if m not in status and m not in tier_rows:  # the pipeline creates the row on first need
            tier_rows[m] = (tiers[0].pk, JOINED)
        target = max(t.rank for t in tiers if t.threshold <= growth[m])
        if target > rank[m]:
            before = tier_rows[m][0] if m in tier_rows else status[m].tier_id
            row("change", member=m, before=before, after=tiers[target].pk, metric=growth[m])
            # the upgrade is an award of its own, caused by the purchase (its coupons' lines go there)
            row("upgrade", key=upgrade_key(m, tiers[target].code), member=m, cause=key)
            rank[m], tier_rows[m] = target, (tiers[target].pk, NOW)
    for account, (available, pending) in cache.items():
        row("account", id=account, available=available, pending=pending)
    for (campaign, m), at in first.items():
        row("participation", campaign=campaign, member=m, first_at=at)
    for m, (tier, since) in tier_rows.items():
        row("membertier", member=m, tier=tier, since=since)
    bonus = sum(BONUS for p in purchases if p.paid_amount >= MIN_PAID)
    cols.update(bonus=bonus, bonus_cny=bonus * types["points"].cny_value, bonus_id=campaigns["bonus"].pk)
    cols.update(
        at=NOW, start=PERIOD_START, end=PERIOD_END, upgrade_reason=str(Campaign.Trigger.TIER_UPGRADE.label)
    )
    return cols


def upgrade_key(member_id: int, tier_code: str) -> str:
    """The upgrade award's key, as ``campaigns.earning.pipeline`` makes it (the member reaches the
    tier at ``NOW``)."""
    return f"{Campaign.Trigger.TIER_UPGRADE}:{member_id}:{tier_code}:{NOW:%Y%m%d%H%M%S}"


def unnest(table: str, columns: str) -> str:
    """``unnest(%(table_a)s::t[], …) WITH ORDINALITY AS v(a, …, n)`` for ``columns`` "a t, …"."""
    pairs = [column.split() for column in columns.split(",")]
    arrays = ", ".join(f"%({table}_{name})s::{kind}[]" for name, kind in pairs)
    return f"unnest({arrays}) WITH ORDINALITY AS v({', '.join(name for name, _kind in pairs)}, n)"


LINE_COLUMNS = "key text, kind text, type bigint, amount bigint, campaign bigint, cny numeric, params text"
ENTRY_COLUMNS = (
    "account bigint, amount bigint, balance_after bigint, ref text, reason text, key text, digest text,"
    " status text, available_at timestamptz, expires_at timestamptz"
)
FLOOR_SQL = [
    f"""WITH awards AS (
    INSERT INTO campaigns_award (key, kind, member_id, purchase_id, reason, occurred_at, created_at)
    SELECT key, 'purchase', member, purchase, reason, occurred_at, %(at)s
    FROM {unnest("award", "key text, member bigint, purchase bigint, reason text, occurred_at timestamptz")}
    ORDER BY n RETURNING id, key, member_id, occurred_at
) INSERT INTO campaigns_awardline (award_id, member_id, kind, point_type_id, amount, campaign_id, cny,
                                   occurred_at, params)
SELECT a.id, a.member_id, v.kind, v.type, v.amount, v.campaign, v.cny, a.occurred_at, v.params::jsonb
FROM {unnest("line", LINE_COLUMNS)}
JOIN awards a USING (key) ORDER BY v.n""",
    f"""WITH v AS (SELECT * FROM {unnest("entry", ENTRY_COLUMNS)}), entries AS (
    INSERT INTO points_entry (account_id, kind, amount, balance_after, source, source_ref, reason,
                              idempotency_key, fingerprint, created_at)
    SELECT account, 'earn', amount, balance_after, 'purchase', ref, reason, key, digest, %(at)s
    FROM v ORDER BY n RETURNING id, idempotency_key
) INSERT INTO points_lot (account_id, entry_id, source, source_ref, amount, remaining, status,
                          available_at, expires_at)
SELECT v.account, e.id, 'purchase', v.ref, v.amount, v.amount, v.status, v.available_at, v.expires_at
FROM v JOIN entries e ON e.idempotency_key = v.key ORDER BY v.n""",
    f"""UPDATE points_account a SET available = a.available + v.available, pending = a.pending + v.pending,
    earned = a.earned + v.available + v.pending, updated_at = %(at)s
FROM {unnest("account", "id bigint, available bigint, pending bigint")} WHERE a.id = v.id""",
    f"""INSERT INTO campaigns_participation (campaign_id, member_id, control, first_at)
SELECT campaign, member, false, first_at
FROM {unnest("participation", "campaign bigint, member bigint, first_at timestamptz")}""",
    """UPDATE campaigns_campaign SET spent_points = spent_points + %(bonus)s,
    spent_cny = spent_cny + %(bonus_cny)s WHERE id = %(bonus_id)s""",
    f"""INSERT INTO tiers_membertier (member_id, tier_id, earned_tier_id, source, since, period_start,
                              valid_until, override_reason)
SELECT member, tier, tier, 'earned', since, %(start)s, %(end)s, ''
FROM {unnest("membertier", "member bigint, tier bigint, since timestamptz")}
ON CONFLICT (member_id) DO UPDATE SET tier_id = EXCLUDED.tier_id, earned_tier_id = EXCLUDED.tier_id,
    since = EXCLUDED.since, source = 'earned'""",
    f"""INSERT INTO tiers_tierchange (member_id, from_tier_id, to_tier_id, earned_tier_id, reason, metric,
                              note, at)
SELECT member, before, after, after, 'upgrade', metric, '', %(at)s
FROM {unnest("change", "member bigint, before bigint, after bigint, metric bigint")}""",
    f"""INSERT INTO campaigns_award (key, kind, member_id, reason, cause_id, occurred_at, created_at)
SELECT v.key, 'lifecycle', v.member, %(upgrade_reason)s, a.id, %(at)s, %(at)s
FROM {unnest("upgrade", "key text, member bigint, cause text")} JOIN campaigns_award a ON a.key = v.cause""",
]


def floor_write(params: dict[str, object]) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in FLOOR_SQL:
            cursor.execute(statement, params)
