"""What the ledger tells partners' webhooks (``members.webhooks``): every posting changes a
balance (``points.changed``, one event per account and posting, with the balance after it), and a
daily job announces points about to expire (``points.expiring``, once per account and expiry
day). Called inside the posting's transaction; with no subscriber each call costs one query.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from members.webhooks.models import EventType
from members.webhooks.services import Fact, webhook_emit, webhook_subscribed
from points.models import Account, Entry, PointType
from points.selectors import expiring_lots

#: ``points.expiring`` announces lots expiring within this many days.
EXPIRING_NOTICE_DAYS = 30


def _codes() -> dict[int, str]:
    return dict(PointType.objects.values_list("pk", "code"))


def _balance(account: Account, codes: dict[int, str], change: int, kind: str) -> dict[str, object]:
    return {
        "point_type": codes[account.point_type_id],
        "kind": kind,
        "change": change,
        "available": account.available,
        "pending": account.pending,
    }


def entries_emit(entries: Sequence[Entry], at: datetime.datetime) -> None:
    """``points.changed`` for the accounts these entries (one posting) moved, with the
    accounts' balances as the posting leaves them. Keyed by the first entry per account."""

    def facts() -> list[Fact]:
        codes = _codes()
        by_account: dict[int, list[Entry]] = {}
        for entry in entries:
            by_account.setdefault(entry.account.pk, []).append(entry)
        return [
            Fact(
                group[0].account.member_id,
                group[0].idempotency_key,
                _balance(group[0].account, codes, sum(e.amount for e in group), group[0].kind),
            )
            for group in by_account.values()
        ]

    webhook_emit(EventType.POINTS_CHANGED, facts, at=at)


def activations_emit(activated: dict[Account, tuple[int, int]], at: datetime.datetime) -> None:
    """``points.changed`` for accounts whose pending points became available:
    ``{account: (points, first lot id)}``; the lot id keys the event (a lot activates once)."""

    def facts() -> list[Fact]:
        codes = _codes()
        return [
            Fact(
                account.member_id,
                f"activate:{lot_id}",
                _balance(account, codes, 0, "activate") | {"activated": points},
            )
            for account, (points, lot_id) in activated.items()
        ]

    webhook_emit(EventType.POINTS_CHANGED, facts, at=at)


def expiring_announce(
    *, now: datetime.datetime | None = None, within_days: int = EXPIRING_NOTICE_DAYS, chunk: int = 2000
) -> int:
    """``points.expiring`` for every account with points expiring within ``within_days``: one
    event per account and expiry day (its lots are one batch), so a daily run announces each
    batch once however often it runs. Returns the events written."""
    now = now or timezone.now()
    if not webhook_subscribed(EventType.POINTS_EXPIRING):
        return 0
    codes = _codes()
    rows = (
        expiring_lots(within_days=within_days, now=now)
        .annotate(day=TruncDate("expires_at"))
        .values("account_id", "account__member_id", "account__point_type_id", "day")
        .annotate(points=Sum("remaining"))
        .order_by("account_id", "day")
    )
    written = 0
    batch: list[Fact] = []
    for row in rows.iterator(chunk_size=chunk):  # a calendar clear-out is most members: not all in memory
        batch.append(
            Fact(
                row["account__member_id"],
                f"{row['account_id']}:{row['day'].isoformat()}",
                {
                    "point_type": codes[row["account__point_type_id"]],
                    "points": row["points"],
                    "expires_on": row["day"].isoformat(),
                },
            )
        )
        if len(batch) >= chunk:
            written += _emit_expiring(batch, now)
            batch = []
    if batch:
        written += _emit_expiring(batch, now)
    return written


def _emit_expiring(batch: list[Fact], now: datetime.datetime) -> int:
    with transaction.atomic():
        return webhook_emit(EventType.POINTS_EXPIRING, batch, at=now)
