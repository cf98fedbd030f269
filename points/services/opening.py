"""Opening balances: what members held in an old system, posted as they were (数据迁移).

Each opening is one entry of kind ``opening`` (source ``migration``) and one lot that keeps the
old system's dates: spendable from when it was earned there, expiring when it would have
expired there. They are not earnings of today: the finance roll-forward shows them apart
("moved in"), and they do not count in the lifetime ``earned`` counter, which an old system's
own totals may set once per account (``CarriedTotals``).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from config.common.bulk import bulk_insert
from points.models import Account, CarriedTotals, Entry, LotAllocation, PointType, Source
from points.services.common import (
    apply_incoming,
    fingerprint,
    first_request_wins,
    key_conflict,
    lock_accounts_many,
    new_entry,
    new_lot,
    require_positive,
    save_accounts,
)
from points.webhooks import entries_emit


@dataclass(frozen=True)
class Opening:
    """One lot an old system held for a member."""

    member_id: int
    point_type: PointType
    amount: int
    key: str  # ``migration:...``: the same record brought in twice is posted once
    source_ref: str  # where it came from (``import:<run>:<row>``)
    available_at: datetime.datetime  # when it was earned there (spendable since)
    expires_at: datetime.datetime | None


@dataclass(frozen=True)
class Carried:
    """An account's lifetime counters in the old system."""

    member_id: int
    point_type: PointType
    earned: int
    spent: int
    expired: int
    source_ref: str


def opening_fingerprint(opening: Opening) -> str:
    return fingerprint(
        op="opening",
        member=opening.member_id,
        type=opening.point_type.code,
        amount=opening.amount,
        available_at=opening.available_at,
        expires_at=opening.expires_at,
    )


def points_open_bulk(
    openings: Sequence[Opening],
    carried: Sequence[Carried] = (),
    *,
    actor: Any = None,
    at: datetime.datetime | None = None,
) -> list[tuple[Entry, bool]]:
    """Post the openings (and the accounts' carried counters) in one transaction, the accounts
    locked in primary-key order. Per opening, (entry, created): an opening whose key was used
    before for the same lot is not posted again (created False); for another lot it is a conflict
    (``IdempotencyConflict``). Carried counters are written once per account: an account that
    has them keeps them (the caller compares first and refuses a file that disagrees).
    """
    at = at or timezone.now()
    for opening in openings:
        require_positive(opening.amount)
    keys = [opening.key for opening in openings]
    with first_request_wins(*keys), transaction.atomic():
        accounts = lock_accounts_many(
            [(o.member_id, o.point_type) for o in openings] + [(c.member_id, c.point_type) for c in carried]
        )
        done = {entry.idempotency_key: entry for entry in Entry.objects.filter(idempotency_key__any=keys)}
        results: list[tuple[Entry, bool]] = []
        entries, lots, repaid = [], [], []
        touched: dict[int, Account] = {}
        for opening in openings:
            digest = opening_fingerprint(opening)
            if (entry := done.get(opening.key)) is not None:
                if entry.fingerprint != digest:
                    raise key_conflict(opening.key)
                results.append((entry, False))
                continue
            account = accounts[(opening.member_id, opening.point_type.pk)]
            # spendable at once: the old system's points were; a debt here is paid from them first
            repay = apply_incoming(account, opening.amount, pending=False)
            entry = new_entry(
                account,
                kind=Entry.Kind.OPENING,
                amount=opening.amount,
                source=Source.MIGRATION,
                source_ref=opening.source_ref,
                key=opening.key,
                digest=digest,
                actor=actor,
                reason="",
                at=at,
            )
            lot = new_lot(
                account,
                entry,
                opening.amount,
                repay=repay,
                at=at,
                available_from=at,
                expires=opening.expires_at,
            )
            lot.available_at = min(opening.available_at, at)  # spendable since it was earned there
            entries.append(entry)
            lots.append(lot)
            repaid.append(repay)
            results.append((entry, True))
            done[opening.key] = entry
            touched[account.pk] = account
        new_carried = _carried(carried, accounts, at)
        for row in new_carried:
            account = row.account
            account.earned += row.earned
            account.spent += row.spent
            account.expired += row.expired
            touched[account.pk] = account
        bulk_insert(entries)
        bulk_insert(lots)
        bulk_insert(
            [
                LotAllocation(entry=lot.entry, lot=lot, amount=r)
                for lot, r in zip(lots, repaid, strict=True)
                if r
            ]
        )
        bulk_insert(new_carried)
        save_accounts(touched.values(), at)
        entries_emit(entries, at)
    return results


def _carried(
    carried: Sequence[Carried], accounts: dict[tuple[int, int], Account], at: datetime.datetime
) -> list[CarriedTotals]:
    """The counters of accounts that have none yet (once per account: the first wins)."""
    wanted = {(c.member_id, c.point_type.pk): c for c in reversed(carried)}  # the first one given
    ids = [accounts[pair].pk for pair in wanted]
    have = set(CarriedTotals.objects.filter(account_id__any=ids).values_list("account_id", flat=True))
    return [
        CarriedTotals(
            account=accounts[pair],
            earned=c.earned,
            spent=c.spent,
            expired=c.expired,
            source_ref=c.source_ref,
            created_at=at,
        )
        for pair, c in wanted.items()
        if accounts[pair].pk not in have
    ]
