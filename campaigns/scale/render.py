"""A block's buffers as COPY rows: each table numbered in time order (``Rows.number``), local
references mapped to real ids, and what depends on real ids (the pipeline's idempotency keys
``purchase:<id>:points``, ``return:<id>:growth``, ``event:<id>:points``, ``expire:lot:<id>``,
their source references and fingerprints) written out.

Numbering happens in the generating thread (it reserves the ids); the rows themselves are
rendered lazily, in the writer thread, while the next block is generated.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterator

from campaigns.scale.blocks import Block, Ids, Stages
from campaigns.scale.world import money
from points.services.common import fingerprint

UTC = datetime.UTC
TABLES = {
    "purchases_purchase": (
        "id", "source", "order_number", "channel", "store_id", "member_id", "occurred_at",
        "gross_amount", "paid_amount", "shipping_amount", "gift_card_amount", "points_amount",
        "refunded_amount", "status", "created_at",
    ),
    "purchases_refund": (
        "id", "purchase_id", "source", "refund_number", "amount", "occurred_at", "created_at",
    ),
    "purchases_memberevent": (
        "id", "member_id", "event_type_id", "key", "channel", "occurred_at", "created_at",
    ),
    "campaigns_award": (
        "id", "key", "kind", "member_id", "purchase_id", "refund_id", "event_id", "reason", "cause_id",
        "occurred_at", "created_at",
    ),
    "benefits_coupon": (
        "id", "code", "benefit_id", "member_id", "status", "valid_from", "valid_until", "origin",
        "entitlement_id", "period_key", "seq", "issued_at", "redeemed_at", "redeemed_store_id", "void_reason",
    ),
    "campaigns_awardline": (
        "id", "award_id", "member_id", "kind", "point_type_id", "amount", "campaign_id", "coupon_id", "cny",
        "occurred_at", "params",
    ),
    "points_account": (
        "id", "member_id", "point_type_id", "available", "pending", "debt", "earned", "spent", "expired",
        "flagged_at", "updated_at",
    ),
    "points_entry": (
        "id", "account_id", "kind", "amount", "balance_after", "source", "source_ref", "reason",
        "idempotency_key", "fingerprint", "created_at",
    ),
    "points_lot": (
        "id", "account_id", "entry_id", "source", "source_ref", "amount", "remaining", "status",
        "available_at", "expires_at",
    ),
    "points_lotallocation": ("id", "entry_id", "lot_id", "amount"),
    "benefits_redemption": (
        "id", "member_id", "reward_id", "points", "status", "spend_id", "coupon_id", "ship_to",
        "tracking_number", "idempotency_key", "created_at", "updated_at", "note",
    ),
    "campaigns_participation": ("id", "campaign_id", "member_id", "control", "first_at"),
    "tiers_tierchange": (
        "id", "member_id", "from_tier_id", "to_tier_id", "earned_tier_id", "reason", "metric", "note", "at",
    ),
    "tiers_membertier": (
        "member_id", "tier_id", "source", "since", "earned_tier_id", "period_start", "valid_until",
        "override_reason",
    ),
}  # fmt: skip
NUMBERED = [table for table in TABLES if table not in ("points_account", "tiers_membertier")]


_CLOCK = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]
_DAYS: dict[int, str] = {}
_EPOCH = datetime.date(1970, 1, 1).toordinal()


def _utc_text(at: int, offset: str) -> str:
    day, second = divmod(at, 86_400)
    if (text := _DAYS.get(day)) is None:
        text = _DAYS[day] = datetime.date.fromordinal(_EPOCH + day).isoformat()
    return f"{text} {_CLOCK[second]}{offset}"


def utc(at: int | None) -> str | None:
    """A time as COPY's text for timestamptz: a tenth of the cost of a datetime per value."""
    return None if at is None else _utc_text(at, "+00")


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def earn_fingerprint(member: int, code: str, amount: int, source: str, ref: str, available_at: int) -> str:
    """``points.services.common.fingerprint`` of an earn with its available time, written
    directly (it is computed for most of the entries; tests/campaigns/test_seed_scale.py keeps
    the two equal)."""
    moment = _utc_text(available_at, "+00:00")  # str() of the aware datetime
    return _digest(
        f'{{"amount": {amount}, "available_at": "{moment}", "member": {member}, "op": "earn", '
        f'"ref": "{ref}", "source": "{source}", "type": "{code}"}}'
    )


def reverse_fingerprint(member: int, code: str, amount: int, ref: str) -> str:
    return _digest(
        f'{{"amount": {amount}, "member": {member}, "op": "reverse", "ref": "{ref}", '
        f'"source": "purchase", "type": "{code}"}}'
    )


#: written once the block's other rows are committed (they refer to them)
REFERRING = {"campaigns_awardline", "points_lot", "points_lotallocation", "benefits_redemption"}
REFERRING |= {"campaigns_participation", "tiers_tierchange", "tiers_membertier"}


def block_copies(block: Block, ids: Ids, now: int) -> Stages:
    """Number the block's tables (here), and return its COPYs (rendered when iterated): the
    rows others refer to, then the rows that refer to them."""
    names = {
        "purchases_purchase": block.purchases,
        "purchases_refund": block.refunds,
        "purchases_memberevent": block.events,
        "campaigns_award": block.awards,
        "benefits_coupon": block.coupons,
        "campaigns_awardline": block.lines,
        "points_entry": block.entries,
        "points_lot": block.lots,
        "points_lotallocation": block.allocations,
        "benefits_redemption": block.redemptions,
        "campaigns_participation": block.participations,
        "tiers_tierchange": block.changes,
    }
    orders = {table: rows.number(ids.take(table, len(rows))) for table, rows in names.items()}
    refs: list[str] = [""] * len(block.entries)  # entry local id -> its source reference, for its lots
    generators = {
        "purchases_purchase": _purchases(block, orders["purchases_purchase"]),
        "purchases_refund": _refunds(block, orders["purchases_refund"]),
        "purchases_memberevent": _events(block, orders["purchases_memberevent"]),
        "campaigns_award": _awards(block, orders["campaigns_award"]),
        "benefits_coupon": _coupons(block, orders["benefits_coupon"]),
        "campaigns_awardline": _lines(block, orders["campaigns_awardline"]),
        "points_account": _accounts(block),
        "points_entry": _entries(block, orders["points_entry"], refs),
        "points_lot": _lots(block, orders["points_lot"], refs, now),
        "points_lotallocation": _allocations(block, orders["points_lotallocation"]),
        "benefits_redemption": _redemptions(block, orders["benefits_redemption"]),
        "campaigns_participation": _participations(block, orders["campaigns_participation"]),
        "tiers_tierchange": _changes(block, orders["tiers_tierchange"]),
        "tiers_membertier": _statuses(block),
    }
    copies = [(table, TABLES[table], generators[table]) for table in TABLES]
    return [c for c in copies if c[0] not in REFERRING], [c for c in copies if c[0] in REFERRING]


def _purchases(block: Block, order: list[int]) -> Iterator[tuple]:
    rows, ids = block.purchases.rows, block.purchases.ids
    for local in order:
        fact, refunded, status, member = rows[local]
        at = utc(fact.at)
        yield (
            ids[local], fact.source, fact.order, fact.channel, fact.store.id, member, at, money(fact.gross),
            money(fact.paid), money(fact.shipping), "0.00", "0.00", money(refunded), status, at,
        )  # fmt: skip


def _refunds(block: Block, order: list[int]) -> Iterator[tuple]:
    rows, ids, purchases = block.refunds.rows, block.refunds.ids, block.purchases.ids
    for local in order:
        purchase, source, number, amount, at = rows[local]
        moment = utc(at)
        yield ids[local], purchases[purchase], source, number, amount, moment, moment


def _events(block: Block, order: list[int]) -> Iterator[tuple]:
    rows, ids = block.events.rows, block.events.ids
    for local in order:
        member, type_id, key, channel, at = rows[local]
        moment = utc(at)
        yield ids[local], member, type_id, key, channel, moment, moment


def _awards(block: Block, order: list[int]) -> Iterator[tuple]:
    rows, ids = block.awards.rows, block.awards.ids
    purchases, refunds, events = block.purchases.ids, block.refunds.ids, block.events.ids
    for local in order:
        kind, member, purchase, refund, event, reason, cause, at, created, key = rows[local]
        purchase_id = None if purchase is None else purchases[purchase]
        refund_id = None if refund is None else refunds[refund]
        event_id = None if event is None else events[event]
        if kind == "purchase":
            key = f"purchase:{purchase_id}"
        elif kind == "refund":
            key = f"return:{refund_id}"
        elif kind == "event":
            key = f"event:{event_id}"
        cause_id = None if cause is None else ids[cause]
        yield (
            ids[local],
            key,
            kind,
            member,
            purchase_id,
            refund_id,
            event_id,
            reason,
            cause_id,
            utc(at),
            utc(created),
        )


def _coupons(block: Block, order: list[int]) -> Iterator[tuple]:
    rows, ids = block.coupons.rows, block.coupons.ids
    for local in order:
        row = rows[local]
        code, benefit, member, status, at, until, origin, entitlement, period, seq, used_at, store = row
        moment = utc(at)
        yield (
            ids[local], code, benefit, member, status, moment, utc(until), origin, entitlement, period, seq,
            moment, utc(used_at), store, "",
        )  # fmt: skip


def _lines(block: Block, order: list[int]) -> Iterator[tuple]:
    rows, ids, awards, coupons = block.lines.rows, block.lines.ids, block.awards.ids, block.coupons.ids
    for local in order:
        award, member, kind, type_id, amount, campaign, coupon, cost, at, params = rows[local]
        coupon_id = None if coupon is None else coupons[coupon]
        yield (
            ids[local],
            awards[award],
            member,
            kind,
            type_id,
            amount,
            campaign,
            coupon_id,
            cost,
            utc(at),
            params,
        )


def _accounts(block: Block) -> Iterator[tuple]:
    for (
        account,
        member,
        type_id,
        available,
        pending,
        debt,
        earned,
        spent,
        expired,
        flagged,
        updated,
    ) in block.accounts:
        yield (
            account,
            member,
            type_id,
            available,
            pending,
            debt,
            earned,
            spent,
            expired,
            utc(flagged),
            utc(updated),
        )


def _entries(block: Block, order: list[int], refs: list[str]) -> Iterator[tuple]:
    rows, ids = block.entries.rows, block.entries.ids
    purchases, refunds, events, lots = (
        block.purchases.ids,
        block.refunds.ids,
        block.events.ids,
        block.lots.ids,
    )
    for local in order:
        account, kind, amount, balance, source, reason, at, member, code, ref_kind, a, b, extra = rows[local]
        if ref_kind == "P":
            ref = f"purchase:{purchases[a]}"
            key, digest = f"{ref}:{code}", earn_fingerprint(member, code, amount, "purchase", ref, extra)
        elif ref_kind == "R":
            ref = f"purchase:{purchases[b]}"
            key, digest = f"return:{refunds[a]}:{code}", reverse_fingerprint(member, code, -amount, ref)
        elif ref_kind == "E":
            ref = f"event:{events[a]}"
            key, digest = f"{ref}:{code}", earn_fingerprint(member, code, amount, "event", ref, extra)
        elif ref_kind == "L":
            lot = lots[a]
            ref, key, digest = f"lot:{lot}", f"expire:lot:{lot}", fingerprint(op="expire", lot=lot)
        else:
            key, ref, digest = extra
        refs[local] = ref
        yield ids[local], account, kind, amount, balance, source, ref, reason, key, digest, utc(at)


def _lots(block: Block, order: list[int], refs: list[str], now: int) -> Iterator[tuple]:
    rows, ids, entries = block.lots.rows, block.lots.ids, block.entries.ids
    for local in order:
        _lid, amount, remaining, available_at, expires_at, entry, account, source = rows[local]
        status = "pending" if available_at > now else "available"
        yield (
            ids[local], account, entries[entry], source, refs[entry], amount, remaining, status,
            utc(available_at), utc(expires_at),
        )  # fmt: skip


def _allocations(block: Block, order: list[int]) -> Iterator[tuple]:
    rows, ids, entries, lots = (
        block.allocations.rows,
        block.allocations.ids,
        block.entries.ids,
        block.lots.ids,
    )
    for local in order:
        entry, lot, amount = rows[local]
        yield ids[local], entries[entry], lots[lot], amount


def _redemptions(block: Block, order: list[int]) -> Iterator[tuple]:
    rows, ids, entries, coupons = (
        block.redemptions.rows,
        block.redemptions.ids,
        block.entries.ids,
        block.coupons.ids,
    )
    for local in order:
        member, reward, points, status, spend, coupon, ship_to, tracking, key, at = rows[local]
        moment = utc(at)
        coupon_id = None if coupon is None else coupons[coupon]
        yield (
            ids[local],
            member,
            reward,
            points,
            status,
            entries[spend],
            coupon_id,
            ship_to,
            tracking,
            key,
            moment,
            moment,
            "",
        )


def _participations(block: Block, order: list[int]) -> Iterator[tuple]:
    rows, ids = block.participations.rows, block.participations.ids
    for local in order:
        campaign, member, control, first = rows[local]
        yield ids[local], campaign, member, control, utc(first)


def _changes(block: Block, order: list[int]) -> Iterator[tuple]:
    rows, ids = block.changes.rows, block.changes.ids
    for local in order:
        member, before, after, earned, reason, metric, at = rows[local]
        yield ids[local], member, before, after, earned, reason, metric, "", utc(at)


def _statuses(block: Block) -> Iterator[tuple]:
    for member, tier, since, earned, start, until in block.statuses:
        yield member, tier, "earned", utc(since), earned, utc(start), utc(until), ""
