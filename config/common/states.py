"""State machines as data: each model's allowed moves in one table, checked by one function.

A table names, for each status, the statuses it may move to. Services move a row with
``transition(row, target)`` (the row is usually locked), and set-based jobs move many rows with a
conditional ``UPDATE ... WHERE status IN table.sources(target)``, so both read the same table and
no service keeps its own list of "from" statuses.

Why not django-fsm-2: its transitions are methods on a model instance, while half of ours are
set-based (coupons expiring, a purchase redeeming a coupon with one conditional UPDATE, the import
job's progress) and others pick their target by the clock (a scheduled campaign whose end is past
ends); a table serves both kinds with no dependency.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import Q

from config.common.errors import BusinessRuleError


class TransitionRefused(BusinessRuleError):
    """A row was asked to move to a status its table does not allow from where it is."""

    code = "invalid_transition"


class Transitions:
    """``{status: (statuses it may move to, ...)}`` for one model's status field."""

    def __init__(self, table: Mapping[str, Iterable[str]]) -> None:
        self.table: dict[str, frozenset[str]] = {
            source: frozenset(targets) for source, targets in table.items()
        }

    def allows(self, source: str, target: str) -> bool:
        return target in self.table.get(source, frozenset())

    def targets(self, source: str) -> frozenset[str]:
        return self.table.get(source, frozenset())

    def sources(self, target: str) -> tuple[str, ...]:
        """The statuses a row may move to ``target`` from, for a conditional UPDATE's filter."""
        return tuple(source for source, targets in self.table.items() if target in targets)

    def may_move_to(self, target: str, field: str = "status") -> Q:
        """The rows that may move to ``target``: ``filter(table.may_move_to(t)).update(status=t)``
        moves many rows at once, and of two updates racing for one row only the first matches
        (PostgreSQL re-checks the condition on the row the other just changed)."""
        sources = self.sources(target)
        return Q(**{field: sources[0]}) if len(sources) == 1 else Q(**{f"{field}__in": sources})

    def final(self, status: str) -> bool:
        return not self.table.get(status)


def transition(
    row: Any,
    target: str,
    *,
    table: Transitions,
    field: str = "status",
    refused: type[BusinessRuleError] = TransitionRefused,
    message: str = "",
    **details: Any,
) -> None:
    """Move ``row`` to ``target`` (in memory; the caller saves), or raise ``refused`` with
    ``message`` if the table does not allow the move from the row's current status."""
    source = getattr(row, field)
    if not table.allows(source, target):
        raise refused(
            message or f"{type(row).__name__} {row.pk}: {source} -> {target} is not allowed.", **details
        )
    setattr(row, field, target)
