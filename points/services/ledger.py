"""Earn, spend, refund a spend and transfer: the ways points move for members' own actions
(reversals of what a source earned: ``points.services.reverse``).

Each function is one transaction: lock the accounts (primary-key order), answer a retry of the
same idempotency key with the first result, check the business rule, write entry + lots +
allocations, update the cached balances.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.common.bulk import bulk_insert
from members.models import Member
from points import policy
from points.errors import NotRedeemable
from points.models import Account, Entry, LotAllocation, PointType, Source
from points.services.common import (
    Taking,
    add_lot,
    apply_incoming,
    fingerprint,
    first_request_wins,
    key_conflict,
    lock_accounts,
    lock_accounts_many,
    new_entry,
    new_lot,
    point_type_of,
    post_entry,
    record_taking,
    replay,
    require_active,
    require_key,
    require_positive,
    save_account,
    save_accounts,
    take_spendable,
)
from points.webhooks import entries_emit


def points_earn(
    *,
    member: Member,
    point_type: PointType | str,
    amount: int,
    source: str,
    source_ref: str = "",
    idempotency_key: str,
    actor: Any = None,
    reason: str = "",
    at: datetime.datetime | None = None,
    available_at: datetime.datetime | None = None,
) -> Entry:
    """Credit points: pending until the return window ends (per type, or ``available_at``)."""
    require_positive(amount)
    require_key(idempotency_key)
    point_type = point_type_of(point_type)
    at = at or timezone.now()
    digest = fingerprint(
        op="earn",
        member=member.pk,
        type=point_type.code,
        amount=amount,
        source=source,
        ref=source_ref,
        available_at=available_at,
    )
    with first_request_wins(idempotency_key), transaction.atomic():
        account = lock_accounts([member.pk], point_type)[member.pk]
        if done := replay(idempotency_key, digest):
            return done
        available_from = available_at or policy.available_at(point_type, at)
        repay = apply_incoming(account, amount, pending=available_from > at)
        account.earned += amount
        entry = post_entry(
            account,
            kind=Entry.Kind.EARN,
            amount=amount,
            source=source,
            source_ref=source_ref,
            key=idempotency_key,
            digest=digest,
            actor=actor,
            reason=reason,
            at=at,
        )
        add_lot(account, entry, amount, repay=repay, at=at, available_from=available_from)
        save_account(account, at)
    return entry


def points_earn_many(
    *,
    member: Member,
    amounts: Mapping[PointType, int],
    source: str,
    source_ref: str = "",
    key: str,
    actor: Any = None,
    reason: str = "",
    at: datetime.datetime | None = None,
    pending_from: datetime.datetime | None = None,
    available_at: datetime.datetime | None = None,
) -> list[Entry]:
    """``points_earn`` for several point types of one source at once (积分 and 成长值 of a purchase).

    Each type gets the entry and lot ``points_earn`` would give it, under the key
    ``<key>:<type code>`` and with the same fingerprint, so either function recognises the
    other's retry. One lock, one look-up and one insert per table instead of one per type.
    ``pending_from``: when each type's return window starts (a purchase's time); default ``at``.
    ``available_at``: one moment for every type instead (``at``: no return window).
    """
    request = EarnRequest(
        member_id=member.pk,
        amounts=amounts,
        source=source,
        source_ref=source_ref,
        key=key,
        reason=reason,
        pending_from=pending_from,
        available_at=available_at,
    )
    return points_earn_bulk([request], actor=actor, at=at)[0]


@dataclass(frozen=True)
class EarnRequest:
    """One source's points for one member, as ``points_earn_many`` takes them."""

    member_id: int
    amounts: Mapping[PointType, int]
    source: str
    key: str
    source_ref: str = ""
    reason: str = ""
    pending_from: datetime.datetime | None = None
    available_at: datetime.datetime | None = None


@dataclass
class _Prepared:
    request: EarnRequest
    amounts: dict[PointType, int]
    keys: dict[int, str]
    available: dict[int, datetime.datetime]
    digests: dict[int, str]


def points_earn_bulk(
    requests: Sequence[EarnRequest], *, actor: Any = None, at: datetime.datetime | None = None
) -> list[list[Entry]]:
    """``points_earn_many`` for many members in one transaction (a chunk of imported purchases).

    Requests are applied in order, so two of one member add up on its accounts as two calls
    would. The same entries, lots and fingerprints as one call per request; every account is
    locked in primary-key order and every key looked up in one query. A request whose keys
    were used before gets the entries then written (its retry), or the conflict.
    """
    at = at or timezone.now()
    prepared = [_prepare(request, at) for request in requests]
    every_key = [key for each in prepared for key in each.keys.values()]
    with first_request_wins(*every_key), transaction.atomic():
        accounts = lock_accounts_many(
            (each.request.member_id, pt) for each in prepared for pt in each.amounts
        )
        done = {e.idempotency_key: e for e in Entry.objects.filter(idempotency_key__in=every_key)}
        results: list[list[Entry]] = []
        entries, lots, repaid = [], [], []
        for each in prepared:
            if any(key in done for key in each.keys.values()):
                for pk, key in each.keys.items():
                    if key not in done or done[key].fingerprint != each.digests[pk]:
                        raise key_conflict(key)
                results.append([done[each.keys[pt.pk]] for pt in each.amounts])
                continue
            mine = []
            member_id = each.request.member_id
            for point_type, amount in sorted(
                each.amounts.items(), key=lambda item: accounts[(member_id, item[0].pk)].pk
            ):
                account = accounts[(member_id, point_type.pk)]
                available_from = each.available[point_type.pk]
                repay = apply_incoming(account, amount, pending=available_from > at)
                account.earned += amount
                entry = new_entry(
                    account,
                    kind=Entry.Kind.EARN,
                    amount=amount,
                    source=each.request.source,
                    source_ref=each.request.source_ref,
                    key=each.keys[point_type.pk],
                    digest=each.digests[point_type.pk],
                    actor=actor,
                    reason=each.request.reason,
                    at=at,
                )
                mine.append(entry)
                lots.append(
                    new_lot(account, entry, amount, repay=repay, at=at, available_from=available_from)
                )
                repaid.append(repay)
            entries.extend(mine)
            results.append(mine)
        bulk_insert(entries)
        bulk_insert(lots)
        bulk_insert(
            [
                LotAllocation(entry=lot.entry, lot=lot, amount=repay)
                for lot, repay in zip(lots, repaid, strict=True)
                if repay
            ]
        )  # the points that paid a debt, as add_lot records them
        save_accounts({entry.account.pk: entry.account for entry in entries}.values(), at)
        entries_emit(entries, at)
    return results


def _prepare(request: EarnRequest, at: datetime.datetime) -> _Prepared:
    amounts = {point_type: amount for point_type, amount in request.amounts.items() if amount}
    for amount in amounts.values():
        require_positive(amount)
    keys = {pt.pk: f"{request.key}:{pt.code}" for pt in amounts}
    for each in keys.values():
        require_key(each)
    start = request.pending_from or at
    available = {pt.pk: request.available_at or policy.available_at(pt, start) for pt in amounts}
    timed = request.pending_from or request.available_at
    digests = {
        pt.pk: fingerprint(
            op="earn",
            member=request.member_id,
            type=pt.code,
            amount=amount,
            source=request.source,
            ref=request.source_ref,
            available_at=available[pt.pk] if timed else None,
        )
        for pt, amount in amounts.items()
    }
    return _Prepared(request, amounts, keys, available, digests)


def points_spend(
    *,
    member: Member,
    point_type: PointType | str,
    amount: int,
    source: str = Source.REDEMPTION,
    source_ref: str = "",
    idempotency_key: str,
    actor: Any = None,
    reason: str = "",
    at: datetime.datetime | None = None,
) -> Entry:
    """Debit available points, soonest-expiring lots first. Never pending or expired points."""
    require_positive(amount)
    require_key(idempotency_key)
    point_type = point_type_of(point_type)
    if not point_type.redeemable:
        raise NotRedeemable(_("%(type)s cannot be spent.") % {"type": point_type.name})
    at = at or timezone.now()
    digest = fingerprint(
        op="spend", member=member.pk, type=point_type.code, amount=amount, source=source, ref=source_ref
    )
    with first_request_wins(idempotency_key), transaction.atomic():
        account = lock_accounts([member.pk], point_type)[member.pk]
        if done := replay(idempotency_key, digest):
            return done
        require_active(member.pk)
        taking = take_spendable(account, amount, at)
        account.available -= amount
        account.spent += amount
        entry = post_entry(
            account,
            kind=Entry.Kind.SPEND,
            amount=-amount,
            source=source,
            source_ref=source_ref,
            key=idempotency_key,
            digest=digest,
            actor=actor,
            reason=reason,
            at=at,
        )
        record_taking(entry, taking)
        save_account(account, at)
    return entry


def points_refund(
    *, spend: Entry, actor: Any = None, reason: str = "", at: datetime.datetime | None = None
) -> Entry:
    """Give back all the points of a spend (a cancelled redemption), once.

    The points return with the expiry dates they had (one lot per date, available at once);
    points whose date has passed meanwhile come back and expire at the next expiry run. The
    refund's key is derived from the spend, so refunding twice returns the first refund.
    """
    if spend.kind != Entry.Kind.SPEND:
        raise ValidationError({"spend": _("Only a spend can be refunded.")})
    # refunded here, the givers' points would stay with the spender (points.households' relation)
    if spend.pool_draws.exists():
        raise ValidationError(
            {"spend": _("This spend drew on a household pool: refund it with its redemption.")}
        )
    return refund_spend(spend=spend, actor=actor, reason=reason, at=at)


def refund_spend(
    *, spend: Entry, actor: Any = None, reason: str = "", at: datetime.datetime | None = None
) -> Entry:
    """``points_refund`` without its checks, for ``points.households.pool.household_refund``,
    which has made them (the spend drew on no pool)."""
    at = at or timezone.now()
    key = f"refund:{spend.pk}"
    digest = fingerprint(op="refund", spend=spend.pk)
    with first_request_wins(key), transaction.atomic():
        account = lock_accounts([spend.account.member_id], spend.account.point_type)[spend.account.member_id]
        if done := replay(key, digest):
            return done
        amount = -spend.amount
        repay = apply_incoming(account, amount, pending=False)
        entry = post_entry(
            account,
            kind=Entry.Kind.REFUND,
            amount=amount,
            source=spend.source,
            source_ref=spend.source_ref,
            key=key,
            digest=digest,
            actor=actor,
            reason=reason,
            at=at,
        )
        taken = Taking(
            parts=[
                (allocation.lot, allocation.amount) for allocation in spend.allocations.select_related("lot")
            ]
        )
        _receive_by_expiry(account, entry, taken, repay, at)
        save_account(account, at)
    return entry


def points_transfer(
    *,
    from_member: Member,
    to_member: Member,
    point_type: PointType | str,
    amount: int,
    idempotency_key: str,
    actor: Any = None,
    reason: str = "",
    at: datetime.datetime | None = None,
) -> tuple[Entry, Entry]:
    """Move available points between members; they keep the expiry dates they had."""
    require_positive(amount)
    require_key(idempotency_key)
    point_type = point_type_of(point_type)
    if not point_type.redeemable:
        raise NotRedeemable(_("%(type)s cannot be transferred.") % {"type": point_type.name})
    if from_member.pk == to_member.pk:
        raise ValidationError({"to_member": _("A member cannot transfer points to themself.")})
    at = at or timezone.now()
    digest = fingerprint(
        op="transfer", source=from_member.pk, to=to_member.pk, type=point_type.code, amount=amount
    )
    out_key, in_key = f"{idempotency_key}:out", f"{idempotency_key}:in"
    with first_request_wins(out_key, in_key), transaction.atomic():
        accounts = lock_accounts([from_member.pk, to_member.pk], point_type)
        sender, receiver = accounts[from_member.pk], accounts[to_member.pk]
        if done := replay(out_key, digest):
            return done, Entry.objects.get(idempotency_key=in_key)
        require_active(from_member.pk, to_member.pk)
        taking = take_spendable(sender, amount, at)
        sender.available -= amount
        common = {"source": Source.SYSTEM, "digest": digest, "actor": actor, "reason": reason, "at": at}
        out_entry = post_entry(
            sender,
            kind=Entry.Kind.TRANSFER,
            amount=-amount,
            source_ref=f"to:{to_member.member_number}",
            key=out_key,
            **common,
        )
        record_taking(out_entry, taking)
        repay = apply_incoming(receiver, amount, pending=False)
        in_entry = post_entry(
            receiver,
            kind=Entry.Kind.TRANSFER,
            amount=amount,
            source_ref=f"from:{from_member.member_number}",
            key=in_key,
            **common,
        )
        _receive_by_expiry(receiver, in_entry, taking, repay, at)
        save_account(sender, at)
        save_account(receiver, at)
    return out_entry, in_entry


def _receive_by_expiry(
    receiver: Account, entry: Entry, taking: Taking, repay: int, at: datetime.datetime
) -> None:
    """One lot per expiry date received; the first ones pay the receiver's debt."""
    by_expiry: dict[datetime.datetime | None, int] = {}
    for lot, part in taking.parts:
        by_expiry[lot.expires_at] = by_expiry.get(lot.expires_at, 0) + part
    for expires, part in by_expiry.items():
        paid = min(repay, part)
        repay -= paid
        add_lot(receiver, entry, part, repay=paid, at=at, available_from=at, expires=expires)
