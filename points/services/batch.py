"""Scheduled jobs: pending lots become available, due lots expire. Set-based, in chunks.

Each chunk is one transaction that picks up to ``chunk`` accounts with due lots, locks them in
primary-key order (as every ledger writer does, so no deadlocks), re-reads their due lots under
that lock and applies the whole chunk in a handful of statements. Running a job twice, or in
two workers at once, is safe: the second finds nothing due left on the accounts it waited for;
each expiry entry also has a unique key (``expire:lot:<id>``).
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from points.models import Account, Entry, Lot, LotAllocation, Source
from points.webhooks import activations_emit, entries_emit

DEFAULT_CHUNK = 1000


def _due_accounts(lots: QuerySet[Lot], chunk: int) -> list[int]:
    return list(lots.order_by("account_id").values_list("account_id", flat=True).distinct()[:chunk])


def _locked_accounts(account_ids: list[int]) -> dict[int, Account]:
    return {a.pk: a for a in Account.objects.select_for_update().filter(pk__in=account_ids).order_by("pk")}


def lots_activate_due(*, now: datetime.datetime | None = None, chunk: int = DEFAULT_CHUNK) -> int:
    """Pending lots whose return window has passed become spendable. Returns lots activated."""
    now = now or timezone.now()
    done = 0
    while True:
        with transaction.atomic():
            due = Lot.objects.filter(status=Lot.Status.PENDING, available_at__lte=now)
            account_ids = _due_accounts(due, chunk)
            if not account_ids:
                return done
            accounts = _locked_accounts(account_ids)
            lots = list(due.filter(account_id__in=account_ids).values_list("id", "account_id", "remaining"))
            Lot.objects.filter(id__in=[lot_id for lot_id, _a, _r in lots]).update(status=Lot.Status.AVAILABLE)
            activated: dict[Account, tuple[int, int]] = {}
            for lot_id, account_id, remaining in lots:
                account = accounts[account_id]
                account.pending -= remaining
                account.available += remaining
                points, first = activated.get(account, (0, lot_id))
                activated[account] = (points + remaining, min(first, lot_id))
            Account.objects.bulk_update(accounts.values(), ["pending", "available"])
            activations_emit(activated, now)
            done += len(lots)


def lots_expire_due(*, now: datetime.datetime | None = None, chunk: int = DEFAULT_CHUNK) -> int:
    """Lots past their expiry lose what is left, one expiry entry per lot. Returns lots expired."""
    now = now or timezone.now()
    done = 0
    while True:
        with transaction.atomic():
            due = Lot.objects.filter(remaining__gt=0, expires_at__lte=now)
            account_ids = _due_accounts(due, chunk)
            if not account_ids:
                return done
            accounts = _locked_accounts(account_ids)
            lots = list(
                due.filter(account_id__in=account_ids)
                .order_by("account_id", "id")
                .values_list("id", "account_id", "remaining", "status")
            )
            entries = []
            for lot_id, account_id, remaining, status in lots:
                account = accounts[account_id]
                if status == Lot.Status.PENDING:
                    account.pending -= remaining
                else:
                    account.available -= remaining
                account.expired += remaining
                entries.append(
                    Entry(
                        account=account,
                        kind=Entry.Kind.EXPIRE,
                        amount=-remaining,
                        balance_after=account.balance,
                        source=Source.SYSTEM,
                        source_ref=f"lot:{lot_id}",
                        idempotency_key=f"expire:lot:{lot_id}",
                        fingerprint="",
                        created_at=now,
                    )
                )
            Entry.objects.bulk_create(entries)
            LotAllocation.objects.bulk_create(
                LotAllocation(entry_id=entry.pk, lot_id=lot[0], amount=lot[2])
                for entry, lot in zip(entries, lots, strict=True)
            )
            Lot.objects.filter(id__in=[lot[0] for lot in lots]).update(remaining=0)
            for account in accounts.values():
                account.updated_at = now
            Account.objects.bulk_update(accounts.values(), ["pending", "available", "expired", "updated_at"])
            entries_emit(entries, now)
            done += len(lots)
