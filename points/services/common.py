"""Pieces every ledger write shares: locking, idempotency, posting an entry, taking from lots.

Callers hold ``transaction.atomic()`` and have locked the accounts (``lock_accounts``) before
calling anything else here: all ledger writers lock account rows first, in primary-key order,
so they serialise per account and can never deadlock on each other.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from config.common.bulk import bulk_set
from config.common.errors import IdempotencyConflict
from members.errors import MemberClosed, MemberFrozen, SpendingBlocked
from members.models import Member
from points import policy
from points.errors import InsufficientPoints
from points.models import Account, Entry, Lot, LotAllocation, PointType
from points.webhooks import entries_emit


def point_type_of(point_type: PointType | str) -> PointType:
    if isinstance(point_type, PointType):
        return point_type
    try:
        return PointType.objects.get(code=point_type)
    except PointType.DoesNotExist:
        raise ValidationError(
            {"point_type": _("Unknown point type %(code)s.") % {"code": point_type}}
        ) from None


def require_positive(amount: int, field: str = "amount") -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValidationError({field: _("Give a whole number of points above zero.")})


#: Keys the ledger itself derives (expiry jobs, approved adjustments, refunds of spends, member
#: merges, households' settlements, an old system's lots, points as cash): never accepted from callers.
RESERVED_KEY_PREFIXES = ("expire:", "adjustment:", "refund:", "merge:", "migration:", "household:", "cash:")


def require_active(*member_ids: int) -> None:
    """Refuse to move points out of or into a frozen or closed member's account. Read afresh
    under the accounts' lock, so a freeze committed before it is seen (one that commits later
    comes after this spend, as it would in any order)."""
    rows = Member.objects.filter(pk__in=member_ids).values_list("member_number", "status", "block_spending")
    for number, status, blocked in sorted(rows):
        if status == Member.Status.FROZEN:
            raise MemberFrozen(
                _("Member %(number)s is frozen: no points move until an operator unfreezes them.")
                % {"number": number},
                field="member",
            )
        if status == Member.Status.CLOSED:
            raise MemberClosed(_("Member %(number)s is closed.") % {"number": number}, field="member")
        if blocked:
            raise SpendingBlocked(
                _("Member %(number)s is under risk review: no points move until an approver decides.")
                % {"number": number},
                field="member",
            )


def require_key(key: str) -> None:
    if not key or len(key) > 100:
        raise ValidationError(
            {"idempotency_key": _("An idempotency key of 1 to 100 characters is required.")}
        )
    if key.startswith(RESERVED_KEY_PREFIXES):
        prefixes = ", ".join(RESERVED_KEY_PREFIXES)
        raise ValidationError(
            {
                "idempotency_key": _("Idempotency keys may not start with %(prefixes)s")
                % {"prefixes": prefixes}
            }
        )


def fingerprint(**request: Any) -> str:
    """Digest of what was asked, so a retry (same) can be told from a clash (different)."""
    body = json.dumps(request, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def replay(key: str, digest: str) -> Entry | None:
    """The entry already posted under ``key`` (a retry), or None; a different request is an error."""
    entry = Entry.objects.filter(idempotency_key=key).first()
    if entry is None:
        return None
    if entry.fingerprint != digest:
        raise key_conflict(key)
    return entry


def key_conflict(key: str) -> IdempotencyConflict:
    return IdempotencyConflict(
        _("Idempotency key %(key)s was already used for a different request.") % {"key": key}, key=key
    )


@contextmanager
def first_request_wins(*keys: str) -> Iterator[None]:
    """Wrap a writer's ``transaction.atomic()``: losing a race for a key is a conflict, not a crash.

    The account lock serialises requests on one account, so ``replay`` sees an earlier request
    with the same key. Two requests on different accounts are not serialised: both find the key
    unused, the second insert waits for the first transaction and then breaks the unique key. The
    key taken by then can only be a different request's (the same request is on the same
    account), so the loser gets the conflict ``replay`` would have given it a moment later.
    """
    try:
        yield
    except IntegrityError:
        for key in keys:
            if Entry.objects.filter(idempotency_key=key).exists():
                raise key_conflict(key) from None
        raise


def lock_accounts(member_ids: Iterable[int], point_type: PointType) -> dict[int, Account]:
    """Lock (creating if needed) the members' accounts of one type, in primary-key order."""
    ids = sorted(set(member_ids))

    def locked() -> dict[int, Account]:
        rows = list(
            Account.objects.select_for_update()
            .filter(member_id__in=ids, point_type=point_type)
            .order_by("pk")
        )
        for account in rows:
            account.point_type = point_type  # known already: saves a query per write, locks nothing more
        return {account.member_id: account for account in rows}

    accounts = locked()
    if len(accounts) < len(ids):
        Account.objects.bulk_create(
            [Account(member_id=m, point_type=point_type) for m in ids if m not in accounts],
            ignore_conflicts=True,
        )
        accounts = locked()
    return accounts


def lock_accounts_many(wanted: Iterable[tuple[int, PointType]]) -> dict[tuple[int, int], Account]:
    """Lock (creating if needed) the accounts of (member id, point type) pairs, in primary-key
    order as ``lock_accounts`` does for one type. Keyed by (member id, type id)."""
    wanted = list(wanted)
    pairs = {(member_id, point_type.pk) for member_id, point_type in wanted}
    types = {point_type.pk: point_type for _member_id, point_type in wanted}
    ids = sorted({member_id for member_id, _pk in pairs})

    def locked() -> dict[tuple[int, int], Account]:
        rows = list(
            Account.objects.select_for_update()
            .filter(member_id__in=ids, point_type_id__in=types)
            .order_by("pk")
        )
        for account in rows:
            account.point_type = types[account.point_type_id]
        return {(account.member_id, account.point_type_id): account for account in rows}

    accounts = locked()
    missing = pairs - accounts.keys()
    if missing:
        Account.objects.bulk_create(
            [Account(member_id=member_id, point_type_id=pk) for member_id, pk in sorted(missing)],
            ignore_conflicts=True,
        )
        accounts = locked()
    return accounts


def new_entry(
    account: Account,
    *,
    kind: str,
    amount: int,
    source: str,
    source_ref: str,
    key: str,
    digest: str,
    actor: Any,
    reason: str,
    at: datetime.datetime,
) -> Entry:
    """The entry, unsaved; the caller has already applied ``amount`` to the account's cache."""
    return Entry(
        account=account,
        kind=kind,
        amount=amount,
        balance_after=account.balance,
        source=source,
        source_ref=source_ref,
        actor=actor if getattr(actor, "pk", None) else None,
        reason=reason,
        idempotency_key=key,
        fingerprint=digest,
        created_at=at,
    )


def post_entry(account: Account, **fields: Any) -> Entry:
    """Write the entry (``new_entry``'s arguments)."""
    entry = new_entry(account, **fields)
    entry.save(force_insert=True)
    entries_emit([entry], entry.created_at)
    return entry


def save_account(account: Account, at: datetime.datetime) -> None:
    if account.available < 0 and account.flagged_at is None:
        account.flagged_at = at  # negative available: finance reviews it (see points_reverse)
    account.save(
        update_fields=[
            "available",
            "pending",
            "debt",
            "earned",
            "spent",
            "expired",
            "flagged_at",
            "updated_at",
        ]
    )


def save_accounts(accounts: Iterable[Account], at: datetime.datetime) -> None:
    """``save_account`` for many accounts, in one statement (``bulk_set``): Django's bulk_update
    builds a CASE expression per field and row, which on a chunk of a large import costs more
    than everything else the ledger does."""
    now = timezone.now()
    accounts = list(accounts)
    for account in accounts:
        if account.available < 0 and account.flagged_at is None:
            account.flagged_at = at
        account.updated_at = now
    bulk_set(
        accounts, ["available", "pending", "debt", "earned", "spent", "expired", "flagged_at", "updated_at"]
    )


def new_lot(
    account: Account,
    entry: Entry,
    amount: int,
    *,
    repay: int,
    at: datetime.datetime,
    available_from: datetime.datetime | None = None,
    expires: datetime.datetime | Literal[True] | None = True,
) -> Lot:
    """The lot for incoming points, unsaved; ``repay`` of them went to the account's debt.

    ``expires=True`` applies the point type's policy from ``at``; a datetime or None is used
    as given (a transfer keeps the sender's expiry dates).
    """
    point_type = account.point_type
    available_from = available_from or policy.available_at(point_type, at)
    return Lot(
        account=account,
        entry=entry,
        source=entry.source,
        source_ref=entry.source_ref,
        amount=amount,
        remaining=amount - repay,
        status=Lot.Status.PENDING if available_from > at else Lot.Status.AVAILABLE,
        available_at=available_from,
        expires_at=policy.expires_at(point_type, at) if expires is True else expires,
    )


def add_lot(account: Account, entry: Entry, amount: int, *, repay: int, **when: Any) -> Lot:
    """Write the lot (``new_lot``'s arguments) and what of it paid the debt."""
    lot = new_lot(account, entry, amount, repay=repay, **when)
    lot.save(force_insert=True)
    if repay:
        LotAllocation.objects.create(entry=entry, lot=lot, amount=repay)  # the points that paid the debt
    return lot


def apply_incoming(account: Account, amount: int, *, pending: bool) -> int:
    """Cache effect of ``amount`` new points; returns how many of them paid the debt first."""
    repay = min(account.debt, amount)
    account.debt -= repay
    account.available += repay
    if pending:
        account.pending += amount - repay
    else:
        account.available += amount - repay
    return repay


@dataclass
class Taking:
    """Points taken from lots for one outgoing entry: per lot, and how much of it was pending."""

    parts: list[tuple[Lot, int]] = field(default_factory=list)
    from_pending: int = 0
    from_available: int = 0

    @property
    def total(self) -> int:
        return self.from_pending + self.from_available


LOT_PAGE = 100


def spendable_lots(account: Account, at: datetime.datetime) -> Iterator[Lot]:
    """Available, unexpired lots with points left, soonest-expiring first (never-expiring last).

    Read lazily, a page at a time: ``take`` usually needs the first lot or two, and an account
    may hold thousands of open lots.
    """
    return (
        Lot.objects.filter(account=account, status=Lot.Status.AVAILABLE, remaining__gt=0)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at))
        .order_by(F("expires_at").asc(nulls_last=True), "id")
        .iterator(chunk_size=LOT_PAGE)
    )


def take_spendable(account: Account, amount: int, at: datetime.datetime) -> Taking:
    """Take ``amount`` from the account's spendable lots, or raise InsufficientPoints (nothing changed)."""
    # The cached balance is an upper bound (it may still count expired lots): fail fast on it.
    if account.available < amount:
        have = max(account.available, 0)
    else:
        taking = take(spendable_lots(account, at), amount)
        if taking.total == amount:
            return taking
        have = taking.total
    raise InsufficientPoints(
        _("Not enough points: %(wanted)d wanted, %(have)d available.") % {"wanted": amount, "have": have},
        wanted=amount,
        available=have,
    )


def take(lots: Iterable[Lot], wanted: int, taking: Taking | None = None) -> Taking:
    """Take up to ``wanted`` points from ``lots`` in the given order (lots are updated in memory)."""
    taking = taking or Taking()
    for lot in lots:
        if wanted <= 0:
            break
        part = min(lot.remaining, wanted)
        if part <= 0:
            continue
        lot.remaining -= part
        wanted -= part
        taking.parts.append((lot, part))
        if lot.status == Lot.Status.PENDING:
            taking.from_pending += part
        else:
            taking.from_available += part
    return taking


def record_taking(entry: Entry, taking: Taking) -> None:
    """Persist what ``take`` did: lot remainders and the allocations that explain them."""
    lots = {lot.pk: lot for lot, _part in taking.parts}
    Lot.objects.bulk_update(lots.values(), ["remaining"])
    LotAllocation.objects.bulk_create(
        LotAllocation(entry=entry, lot=lot, amount=part) for lot, part in taking.parts
    )
