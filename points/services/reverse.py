"""``points_reverse_bulk``: many reversals in one transaction (a chunk of imported refunds).

The result is that of ``points_reverse`` called once per request, in order: the same entries,
lot remainders, allocations, balances and errors. The policy itself is ``reverse_from_lots``,
the function ``points_reverse`` uses; only the reading and writing around it are set-based.
The reads are done once for the whole batch, and the batch's own changes stay in memory, so a
request sees what the requests before it did: lots are shared objects (one per row), and what
each source has had reversed is counted as requests are applied.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from config.common.bulk import bulk_insert, bulk_set
from points.models import Account, Entry, Lot, LotAllocation, PointType
from points.services.common import (
    Taking,
    first_request_wins,
    key_conflict,
    lock_accounts_many,
    require_key,
    require_positive,
    save_accounts,
)
from points.services.ledger import other_lots, reverse_fingerprint, reverse_from_lots

#: One source on one account: (account id, source, source reference).
SourceKey = tuple[int, str, str]


@dataclass(frozen=True)
class ReverseRequest:
    """One ``points_reverse`` call: ``amount=None`` reverses all that is left of the source."""

    member_id: int
    point_type: PointType
    source: str
    source_ref: str
    key: str
    amount: int | None = None
    reason: str = ""


def points_reverse_bulk(
    requests: Sequence[ReverseRequest], *, actor: Any = None, at: datetime.datetime | None = None
) -> list[Entry]:
    """``points_reverse`` for each request, in order, in one transaction; returns their entries.

    Every account is locked once in primary-key order, and the keys, the sources' own lots and
    what was reversed of them before are each read in one query. A request whose key was used
    before gets that entry back (its retry) or the conflict; the first request that fails
    (nothing left, too much, bad key) raises what ``points_reverse`` raises, and the whole
    batch is rolled back. Only a reversal of points already spent reads more: the account's
    other lots, as ``points_reverse`` does.
    """
    if not requests:
        return []
    at = at or timezone.now()
    keys = [request.key for request in requests]
    with first_request_wins(*keys), transaction.atomic():
        accounts = lock_accounts_many((request.member_id, request.point_type) for request in requests)
        done = {e.idempotency_key: e for e in Entry.objects.filter(idempotency_key__in=keys)}

        def account_of(request: ReverseRequest) -> Account:
            return accounts[(request.member_id, request.point_type.pk)]

        sources = {(account_of(r).pk, r.source, r.source_ref) for r in requests}
        own, lots = _own_lots(sources)
        reversed_before = _reversed(sources)
        results: list[Entry] = []
        made: list[tuple[Entry, Taking]] = []
        for request in requests:
            # checked in order, as one call per request would meet them
            if request.amount is not None:
                require_positive(request.amount)
            require_key(request.key)
            account = account_of(request)
            digest = reverse_fingerprint(
                request.member_id, request.point_type, request.amount, request.source, request.source_ref
            )
            if (entry := done.get(request.key)) is not None:
                if entry.fingerprint != digest:
                    raise key_conflict(request.key)
                results.append(entry)
                continue
            source = (account.pk, request.source, request.source_ref)
            entry, taking = reverse_from_lots(
                account, own[source], reversed_before[source],
                partial(_others, account, own[source], lots),
                amount=request.amount, source=request.source, source_ref=request.source_ref, key=request.key,
                digest=digest, actor=actor, reason=request.reason, at=at,
            )  # fmt: skip
            reversed_before[source] -= entry.amount
            done[request.key] = entry  # a later request with this key is its retry
            results.append(entry)
            made.append((entry, taking))
        _write(made, at)
    return results


def _own_lots(sources: set[SourceKey]) -> tuple[dict[SourceKey, list[Lot]], dict[int, Lot]]:
    """Each source's earned lots by id (``points_reverse``'s ``own``), and every lot read by pk.

    One query over the accounts, sources and references involved; rows of a combination not
    asked for (account A's reference of account B) are read but belong to no request.
    """
    rows = Lot.objects.filter(
        account_id__in={account for account, _source, _ref in sources},
        source__in={source for _account, source, _ref in sources},
        source_ref__in={ref for _account, _source, ref in sources},
        entry__kind=Entry.Kind.EARN,
    ).order_by("id")
    own: dict[SourceKey, list[Lot]] = {source: [] for source in sources}
    lots: dict[int, Lot] = {}
    for lot in rows:
        lots[lot.pk] = lot
        if (key := (lot.account_id, lot.source, lot.source_ref)) in own:
            own[key].append(lot)
    return own, lots


def _reversed(sources: set[SourceKey]) -> dict[SourceKey, int]:
    """Points of each source reversed before this batch (positive)."""
    rows = (
        Entry.objects.filter(
            account_id__in={account for account, _source, _ref in sources},
            kind=Entry.Kind.REVERSE,
            source__in={source for _account, source, _ref in sources},
            source_ref__in={ref for _account, _source, ref in sources},
        )
        .order_by()
        .values_list("account_id", "source", "source_ref")
        .annotate(total=Sum("amount"))
    )
    totals: dict[SourceKey, int] = defaultdict(int)
    for account, source, ref, total in rows:
        totals[(account, source, ref)] = -total
    return totals


def _others(account: Account, own: list[Lot], lots: dict[int, Lot], status: str) -> Iterator[Lot]:
    """``other_lots`` as ``points_reverse`` reads them, with the batch's changes: a lot already
    in memory (taken from by an earlier request, or another source's own lot) is that object.

    The database may still show points the batch has taken (``take`` skips a lot with none
    left); it never shows fewer, because reversals only take.
    """
    for lot in other_lots(account, own, status).iterator(chunk_size=100):
        yield lots.setdefault(lot.pk, lot)


def _write(made: list[tuple[Entry, Taking]], at: datetime.datetime) -> None:
    """What ``points_reverse`` writes per request (entry, lot remainders, allocations, account),
    one statement per table for the batch."""
    if not made:
        return
    bulk_insert([entry for entry, _taking in made])
    taken = {lot.pk: lot for _entry, taking in made for lot, _part in taking.parts}
    bulk_set(list(taken.values()), ["remaining"])  # reversals change no status
    bulk_insert(
        [
            LotAllocation(entry=entry, lot=lot, amount=part)
            for entry, taking in made
            for lot, part in taking.parts
        ]
    )
    save_accounts({entry.account.pk: entry.account for entry, _taking in made}.values(), at)
