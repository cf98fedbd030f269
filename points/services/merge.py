"""A member merge's points (``members.oneid``): every open lot of the absorbed member moves to
the survivor's account of the same type as a pair of ``merge`` entries.

Each lot arrives as a lot of its own that keeps what the original had: its source and
reference (so a later refund of the absorbed member's purchase reverses it on the survivor),
its state (pending points stay pending until their date), its available-from and expiry
dates. A debt of the absorbed member (points reversed after they were spent) becomes the
survivor's: it is paid from the survivor's spendable points first, as a reversal would take
them, and what they do not cover stays owed. Lifetime counters stay on the account that earned,
spent or expired the points, where the entries are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils.translation import gettext as _

from members.oneid.services import MergeRefused
from points.models import Account, AdjustmentRequest, Entry, Lot, LotAllocation, PointType, Source
from points.services.common import (
    apply_incoming,
    fingerprint,
    lock_accounts_many,
    post_entry,
    record_taking,
    save_account,
    spendable_lots,
    take,
)


def points_merge(merge: Any) -> None:
    """The points step of a merge (``members.oneid.services.Merge``): both members are locked."""
    absorbed, survivor = merge.absorbed, merge.survivor
    if AdjustmentRequest.objects.filter(
        account__member=absorbed, status=AdjustmentRequest.Status.PENDING
    ).exists():
        # its approval would post to the closed record: decided first, it moves with the rest
        raise MergeRefused(
            _("Member %(number)s has a points adjustment waiting for approval: decide it first.")
            % {"number": absorbed.member_number}
        )
    types = list(PointType.objects.filter(account__member=absorbed).order_by("pk"))
    if not types:
        return
    accounts = lock_accounts_many((member.pk, pt) for pt in types for member in (absorbed, survivor))
    for point_type in types:
        source, target = accounts[(absorbed.pk, point_type.pk)], accounts[(survivor.pk, point_type.pk)]
        moved = _move_lots(source, target, merge) + _move_debt(source, target, merge)
        if moved:
            merge.note("points", moved, point_type.name)
        save_account(source, merge.at)
        save_account(target, merge.at)


def points_merge_needs_approval(survivor: Any, absorbed: Any) -> list[str]:
    """A spendable balance above its type's approval threshold moves only with a second person's
    approval (growth value buys nothing: the tier it earned is the tiers' check)."""
    reasons = []
    accounts = Account.objects.filter(member=absorbed, point_type__redeemable=True).select_related(
        "point_type"
    )
    for account in accounts:
        if abs(account.balance) > account.point_type.approval_threshold:
            reasons.append(
                _("Member %(number)s holds %(points)d %(type)s, above the approval threshold of %(limit)d.")
                % {
                    "number": absorbed.member_number,
                    "points": account.balance,
                    "type": account.point_type.name,
                    "limit": account.point_type.approval_threshold,
                }
            )
    return reasons


def _entries(merge: Any, source: Account, amount: int, what: str) -> dict[str, Any]:
    code = source.point_type.code
    return {
        "source": Source.SYSTEM,
        "digest": fingerprint(op="merge", merge=merge.record.pk, type=code, what=what, amount=amount),
        "actor": merge.actor,
        "reason": merge.record.reason[:200],
        "at": merge.at,
    }


def _move_lots(source: Account, target: Account, merge: Any) -> int:
    lots = list(Lot.objects.filter(account=source, remaining__gt=0).order_by("expires_at", "id"))
    total = sum(lot.remaining for lot in lots)
    if not total:
        return 0
    originals = {lot.pk: (lot.source, lot.source_ref, lot.status) for lot in lots}
    taking = take(lots, total)
    source.pending -= taking.from_pending
    source.available -= taking.from_available
    common = _entries(merge, source, total, "lots")
    out = post_entry(
        source,
        kind=Entry.Kind.MERGE,
        amount=-total,
        source_ref=f"to:{merge.survivor.member_number}",
        key=f"{merge.key}:{source.point_type.code}:out",
        **common,
    )
    record_taking(out, taking)
    repaid = [
        apply_incoming(target, part, pending=originals[lot.pk][2] == Lot.Status.PENDING)
        for lot, part in taking.parts
    ]
    entry = post_entry(
        target,
        kind=Entry.Kind.MERGE,
        amount=total,
        source_ref=f"from:{merge.absorbed.member_number}",
        key=f"{merge.key}:{source.point_type.code}:in",
        **common,
    )
    _receive(target, entry, taking.parts, repaid, originals)
    return total


def _receive(
    target: Account,
    entry: Entry,
    parts: Sequence[tuple[Lot, int]],
    repaid: Sequence[int],
    originals: dict[int, tuple[str, str, str]],
) -> None:
    """One lot per lot taken, as it was; the points that paid the survivor's debt are allocated."""
    new = []
    for (lot, part), repay in zip(parts, repaid, strict=True):
        lot_source, ref, status = originals[lot.pk]
        new.append(
            Lot(
                account=target,
                entry=entry,
                source=lot_source,
                source_ref=ref,
                amount=part,
                remaining=part - repay,
                status=status,
                available_at=lot.available_at,
                expires_at=lot.expires_at,
            )
        )
    Lot.objects.bulk_create(new)
    LotAllocation.objects.bulk_create(
        LotAllocation(entry=entry, lot=lot, amount=repay)
        for lot, repay in zip(new, repaid, strict=True)
        if repay
    )


def _move_debt(source: Account, target: Account, merge: Any) -> int:
    """The absorbed member's debt: cleared there, taken from the survivor's points or owed."""
    debt = source.debt
    if not debt:
        return 0
    source.debt = 0
    source.available += debt
    common = _entries(merge, source, debt, "debt")
    code = source.point_type.code
    post_entry(
        source,
        kind=Entry.Kind.MERGE,
        amount=debt,
        source_ref=f"to:{merge.survivor.member_number}",
        key=f"{merge.key}:{code}:debt-out",
        **common,
    )
    taking = take(spendable_lots(target, merge.at), debt)
    if taking.total < debt:
        pending = Lot.objects.filter(account=target, status=Lot.Status.PENDING, remaining__gt=0)
        take(pending.order_by("expires_at", "id"), debt - taking.total, taking)
    deficit = debt - taking.total
    target.pending -= taking.from_pending
    target.available -= taking.from_available + deficit
    target.debt += deficit
    entry = post_entry(
        target,
        kind=Entry.Kind.MERGE,
        amount=-debt,
        source_ref=f"from:{merge.absorbed.member_number}",
        key=f"{merge.key}:{code}:debt-in",
        **common,
    )
    record_taking(entry, taking)
    return -debt
