"""One points account's history, replayed in memory in time order: the rows the ledger services
would have written for it, with the same rules (``points.services``), so that the seeded books
balance exactly as live ones do.

- earn: a lot per entry, pending until the return window ends; new points pay a debt first
  (an allocation from the new lot to its own entry), as ``apply_incoming`` and ``add_lot`` do;
- spend and negative adjustments: available, unexpired lots, soonest-expiring first;
- reverse (a refund): the source's own pending lots, then its available ones, then other
  available lots, then other pending ones; what is left becomes a debt and flags the account
  (``reverse_from_lots``);
- expire: the nightly job, one entry per lot with points left (``lots_expire_due``).

Lots are appended to the block's lot table when made and changed in place while the member's
history goes on, so the row written holds the final remainder. A lot is a list
``[local id, amount, remaining, available_at, expires_at, entry, account, source]`` (times in
epoch seconds, the entry's local id); entries and allocations go to their tables with local
ids, mapped to real ids when the block is written (``campaigns.scale.render``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from campaigns.scale.blocks import Block

# Entry tuples (see ``campaigns.scale.render.entry_rows`` for how they become rows):
# (account, kind, amount, balance_after, source, reason, at, member, code, ref kind, a, b, extra)
ID, AMOUNT, REMAINING, AVAILABLE_AT, EXPIRES_AT, ENTRY, ACCOUNT, SOURCE = range(8)


class Book:
    """The account's cache and lots while its history is replayed."""

    __slots__ = (
        "account",
        "balance",
        "block",
        "code",
        "debt",
        "earned",
        "expired",
        "flagged_at",
        "head",
        "last_at",
        "lots",
        "member",
        "own",
        "spent",
    )

    def __init__(self, block: Block, account: int, member: int, code: str) -> None:
        self.block, self.account, self.member, self.code = block, account, member, code
        self.lots: list[list[Any]] = []  # in the order they were made: soonest-expiring first
        self.head = 0  # lots before it hold nothing any more
        self.own: dict[Any, list[Any]] = {}  # source ref -> its earned lot
        self.balance = self.debt = self.earned = self.spent = self.expired = 0
        self.flagged_at: int | None = None
        self.last_at = 0

    # --- writing --------------------------------------------------------------------------

    def _entry(self, kind: str, amount: int, source: str, reason: str, at: int, ref: tuple) -> int:
        self.balance += amount
        self.last_at = at
        entries = self.block.entries  # Rows.add, inlined: a call per entry shows at 30 million
        entries.rows.append(
            (self.account, kind, amount, self.balance, source, reason, at, self.member, self.code, *ref)
        )
        entries.times.append(at)
        return len(entries.rows) - 1

    def _allocate(self, entry: int, parts: list[tuple[list[Any], int]]) -> None:
        add = self.block.allocations.add
        for lot, part in parts:
            add((entry, lot[ID], part), 0)

    # --- earning --------------------------------------------------------------------------

    def earn(
        self,
        amount: int,
        *,
        source: str,
        reason: str,
        at: int,
        available_at: int,
        expires_at: int | None,
        ref: tuple,
        own: Any = None,
        kind: str = "earn",
    ) -> int:
        """Credit ``amount`` (an earn, or a positive adjustment with ``kind``); returns the entry."""
        if kind == "earn":
            self.earned += amount
        entry = self._entry(kind, amount, source, reason, at, ref)
        repay = min(self.debt, amount)
        self.debt -= repay
        lots = self.block.lots
        lot = [len(lots.rows), amount, amount - repay, available_at, expires_at, entry, self.account, source]
        lots.rows.append(lot)
        lots.times.append(at)
        self.lots.append(lot)
        if own is not None:
            self.own[own] = lot
        if repay:
            self.block.allocations.add((entry, lot[ID], repay), 0)
        return entry

    # --- taking ---------------------------------------------------------------------------

    def spendable(self, at: int) -> int:
        return sum(
            lot[REMAINING]
            for lot in self.lots[self.head :]
            if lot[AVAILABLE_AT] <= at and (lot[EXPIRES_AT] is None or lot[EXPIRES_AT] > at)
        )

    def _take_spendable(self, amount: int, at: int) -> list[tuple[list[Any], int]]:
        parts = []
        lots = self.lots
        while self.head < len(lots) and lots[self.head][REMAINING] == 0:
            self.head += 1
        for lot in lots[self.head :]:
            if amount <= 0:
                break
            if lot[REMAINING] <= 0 or lot[AVAILABLE_AT] > at:
                continue
            if lot[EXPIRES_AT] is not None and lot[EXPIRES_AT] <= at:
                continue
            part = min(lot[REMAINING], amount)
            lot[REMAINING] -= part
            amount -= part
            parts.append((lot, part))
        assert amount == 0, "spend above what is spendable"
        return parts

    def spend(
        self, amount: int, *, source: str, reason: str, at: int, ref: tuple, kind: str = "spend"
    ) -> int:
        """Debit available points (callers check ``spendable`` first); returns the entry."""
        parts = self._take_spendable(amount, at)
        if kind == "spend":
            self.spent += amount
        entry = self._entry(kind, -amount, source, reason, at, ref)
        self._allocate(entry, parts)
        return entry

    def reverse(self, amount: int, *, own: Any, reason: str, at: int, ref: tuple) -> int:
        """Take back ``amount`` of what the source ``own`` earned (a refund); returns the entry."""
        parts: list[tuple[list[Any], int]] = []
        wanted = amount
        mine = self.own[own]
        order = [mine] + [
            lot for lot in self.lots[self.head :] if lot is not mine and lot[AVAILABLE_AT] <= at
        ]
        order += [lot for lot in self.lots[self.head :] if lot is not mine and lot[AVAILABLE_AT] > at]
        for lot in order:
            if wanted <= 0:
                break
            part = min(lot[REMAINING], wanted)
            if part <= 0:
                continue
            lot[REMAINING] -= part
            wanted -= part
            parts.append((lot, part))
        if wanted:  # spent already and nothing left to take it from: the member owes it
            self.debt += wanted
            if self.flagged_at is None:
                self.flagged_at = at
        entry = self._entry("reverse", -amount, "purchase", reason, at, ref)
        self._allocate(entry, parts)
        return entry

    def expire_due(self, at: int) -> int:
        """The nightly expiry job at ``at``: one entry per lot past its expiry with points left."""
        done = 0
        for lot in self.lots[self.head :]:
            expires = lot[EXPIRES_AT]
            if expires is None or expires > at:
                break  # lots are made in expiry order
            left = lot[REMAINING]
            if left <= 0:
                continue
            lot[REMAINING] = 0
            self.expired += left
            entry = self._entry("expire", -left, "system", "", at, ("L", lot[ID], 0, None))
            self.block.allocations.add((entry, lot[ID], left), 0)
            done += 1
        return done

    def next_expiry(self) -> int | None:
        for lot in self.lots[self.head :]:
            if lot[REMAINING] > 0:
                return lot[EXPIRES_AT]
        return None

    # --- the account row ------------------------------------------------------------------

    def account_row(self, now: int) -> tuple:
        """(id, member, available, pending, debt, earned, spent, expired, flagged_at, updated_at)
        as the cache stands at ``now``: pending = what the activation job has not released yet."""
        pending = sum(lot[REMAINING] for lot in self.lots if lot[AVAILABLE_AT] > now)
        available = self.balance - pending
        return (
            self.account,
            self.member,
            available,
            pending,
            self.debt,
            self.earned,
            self.spent,
            self.expired,
            self.flagged_at,
            self.last_at or None,
        )
