"""Reversals: what a source earned, taken back (a refund), one request or a batch of them.

``points_reverse`` is ``points_reverse_bulk`` with one request: one path, so a till's refund
and an imported chunk of refunds cannot drift apart. The policy is ``reverse_from_lots``; the
reads are done once for the whole batch, and the batch's own changes stay in memory, so a
request sees what the requests before it did: lots are shared objects (one per row), and what
each source has had reversed is counted as requests are applied.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from config.common.bulk import bulk_insert, bulk_set
from members.models import Member
from points.errors import NothingToReverse
from points.models import Account, Entry, Lot, LotAllocation, PointType
from points.services.common import (
    Taking,
    fingerprint,
    first_request_wins,
    key_conflict,
    lock_accounts_many,
    new_entry,
    point_type_of,
    require_key,
    require_positive,
    save_accounts,
    take,
)
from points.webhooks import entries_emit

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


def points_reverse(
    *,
    member: Member,
    point_type: PointType | str,
    source: str,
    source_ref: str,
    amount: int | None = None,
    idempotency_key: str,
    actor: Any = None,
    reason: str = "",
    at: datetime.datetime | None = None,
) -> Entry:
    """Undo all (``amount=None``) or part of what one source earned on this account.

    Policy: the source's own pending points are cancelled first, then its available ones.
    Points of it that were already spent are taken from the rest of the balance (other
    available lots soonest-expiring first, then other pending lots). What the balance cannot
    cover becomes a debt: ``available`` goes negative, the account is flagged for review, and
    the member's next points pay the debt before anything else. Never more than the source
    earned minus what was already reversed. (``reverse_from_lots`` holds the policy.)
    """
    request = ReverseRequest(
        member_id=member.pk,
        point_type=point_type_of(point_type),
        source=source,
        source_ref=source_ref,
        key=idempotency_key,
        amount=amount,
        reason=reason,
    )
    return points_reverse_bulk([request], actor=actor, at=at)[0]


def points_reverse_bulk(
    requests: Sequence[ReverseRequest], *, actor: Any = None, at: datetime.datetime | None = None
) -> list[Entry]:
    """Reverse each request, in order, in one transaction; returns their entries.

    Every account is locked once in primary-key order, and the keys, the sources' own lots and
    what was reversed of them before are each read in one query. A request whose key was used
    before gets that entry back (its retry) or the conflict; the first request that fails
    (nothing left, too much, bad key) raises, and the whole batch is rolled back. Only a
    reversal of points already spent reads more: the account's other lots (``other_lots``).
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
                account,
                own[source],
                reversed_before[source],
                partial(_others, account, own[source], lots),
                amount=request.amount,
                source=request.source,
                source_ref=request.source_ref,
                key=request.key,
                digest=digest,
                actor=actor,
                reason=request.reason,
                at=at,
            )
            reversed_before[source] -= entry.amount
            done[request.key] = entry  # a later request with this key is its retry
            results.append(entry)
            made.append((entry, taking))
        _write(made, at)
    return results


def _own_lots(sources: set[SourceKey]) -> tuple[dict[SourceKey, list[Lot]], dict[int, Lot]]:
    """Each source's earned lots by id (``reverse_from_lots``'s ``own``), and every lot read by pk.

    One query over the accounts, sources and references involved; rows of a combination not
    asked for (account A's reference of account B) are read but belong to no request.
    """
    rows = (
        Lot.objects.filter(
            account_id__in={account for account, _source, _ref in sources},
            source__in={source for _account, source, _ref in sources},
            source_ref__in={ref for _account, _source, ref in sources},
            # a merge brings the absorbed member's lots over with their source (points.services.merge)
            entry__kind__in=[Entry.Kind.EARN, Entry.Kind.MERGE],
        )
        .annotate(entry_kind=F("entry__kind"))
        .order_by("id")
    )
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
    """``other_lots`` with the batch's changes: a lot already
    in memory (taken from by an earlier request, or another source's own lot) is that object.

    The database may still show points the batch has taken (``take`` skips a lot with none
    left); it never shows fewer, because reversals only take.
    """
    for lot in other_lots(account, own, status).iterator(chunk_size=100):
        yield lots.setdefault(lot.pk, lot)


def _write(made: list[tuple[Entry, Taking]], at: datetime.datetime) -> None:
    """Each request's entry, lot remainders, allocations and account: one statement per table
    for the batch (one row each for a single request)."""
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
    entries_emit([entry for entry, _taking in made], at)


def reverse_fingerprint(
    member_id: int, point_type: PointType, amount: int | None, source: str, source_ref: str
) -> str:
    """What a reversal asked: a retry of the same request is told from a clash by it."""
    return fingerprint(
        op="reverse", member=member_id, type=point_type.code, amount=amount, source=source, ref=source_ref
    )


def other_lots(account: Account, own: Sequence[Lot], status: str) -> QuerySet[Lot]:
    """The account's lots of ``status`` with points left, apart from the source's own, in the
    order a reversal takes them when the source's own points were already spent."""
    return (
        Lot.objects.filter(account=account, remaining__gt=0)
        .exclude(pk__in=[lot.pk for lot in own])
        .filter(status=status)
        .order_by("expires_at", "id")
    )


def reverse_from_lots(
    account: Account,
    own: Sequence[Lot],
    reversed_before: int,
    others: Callable[[str], Iterable[Lot]],
    *,
    amount: int | None,
    source: str,
    source_ref: str,
    key: str,
    digest: str,
    actor: Any,
    reason: str,
    at: datetime.datetime,
) -> tuple[Entry, Taking]:
    """The reversal policy of ``points_reverse``, applied to lots already read.

    ``own``: the source's earned lots on the (locked) account by id, as they stand now;
    ``reversed_before``: how much of the source was reversed already; ``others(status)``: the
    account's other lots with points left (``other_lots``), read only when the source's own
    points were spent. Takes from the lots and updates the account in memory; returns the
    entry, unsaved, and the taking for the caller to write (``record_taking``).
    """
    reversible = sum(lot.amount for lot in own) - reversed_before
    if amount is not None and any(getattr(lot, "entry_kind", "") == Entry.Kind.MERGE for lot in own):
        # A merged source came over as what was left of it: the points it earned that the
        # absorbed member had spent are taken from the balance, as for any source (the caller,
        # the refund, never asks for more than the purchase earned).
        reversible = max(reversible, amount)
    if reversible <= 0:
        raise NothingToReverse(
            _("Nothing left to reverse for %(source)s %(ref)s.") % {"source": source, "ref": source_ref}
        )
    wanted = reversible if amount is None else amount
    if wanted > reversible:
        raise ValidationError(
            {"amount": _("Only %(left)d points of this source are left to reverse.") % {"left": reversible}}
        )
    taking = take([lot for lot in own if lot.status == Lot.Status.PENDING], wanted)
    take([lot for lot in own if lot.status == Lot.Status.AVAILABLE], wanted - taking.total, taking)
    if taking.total < wanted:
        for status in (Lot.Status.AVAILABLE, Lot.Status.PENDING):  # available ones first
            take(others(status), wanted - taking.total, taking)
    deficit = wanted - taking.total
    account.pending -= taking.from_pending
    account.available -= taking.from_available + deficit
    account.debt += deficit
    entry = new_entry(
        account,
        kind=Entry.Kind.REVERSE,
        amount=-wanted,
        source=source,
        source_ref=source_ref,
        key=key,
        digest=digest,
        actor=actor,
        reason=reason,
        at=at,
    )
    return entry, taking
