"""One entry point per fact: record what a member did, then earn on it.

The partner API and the demo data call these. The import job records its facts through the
same recorders of ``members.purchases.services`` (in bulk) and hands them to
``campaigns.earning.imports``, which earns them with ``facts_earn_many``: the batch form of the
same earning functions, with the same result as one call each, in order.

Recording and earning are two transactions, as they were before this module: a fact is stored
once whatever happens to its earning (a closed member earns nothing, a retry earns it), and the
award's key makes a second earning of the same fact return the first one's award.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any, NamedTuple

from campaigns import selectors
from campaigns.earning.batch import purchases_process_many
from campaigns.earning.batch_refunds import refunds_process_many
from campaigns.earning.pipeline import event_process, purchase_process, refund_process
from campaigns.models import Award
from members.purchases.models import MemberEvent, Purchase, Refund
from members.purchases.services import event_record, purchase_record, refund_record
from points.cash.models import Hold
from points.cash.services import purchase_record_with_hold


class Recorded(NamedTuple):
    """A fact as recorded (``created``: now, not before) and the award it earned."""

    fact: Any
    created: bool
    award: Award


def purchase_record_and_earn(
    *,
    at: datetime.datetime | None = None,
    book: selectors.RuleBook | None = None,
    points_hold: Hold | None = None,
    **purchase: Any,
) -> Recorded:
    """``purchase_record(**purchase)``, then what it earns (``purchase_process``) at ``at``.
    ``book``: the rule book to earn by (the API passes ``recent_rule_book()``). ``points_hold``:
    the points held at the till that paid ``points_amount``, captured with the purchase."""
    if points_hold is None:
        fact, created = purchase_record(**purchase)
    else:
        fact, created = purchase_record_with_hold(hold=points_hold, **purchase)
    return Recorded(fact, created, purchase_process(fact, at=at, book=book))


def refund_record_and_earn(
    *, at: datetime.datetime | None = None, book: selectors.RuleBook | None = None, **refund: Any
) -> Recorded:
    """``refund_record(**refund)``, then what it takes back (``refund_process``)."""
    fact, created = refund_record(**refund)
    return Recorded(fact, created, refund_process(fact, at=at, book=book))


def event_record_and_earn(
    *, at: datetime.datetime | None = None, book: selectors.RuleBook | None = None, **event: Any
) -> Recorded:
    """``event_record(**event)``, then what it earns (``event_process``)."""
    fact, created = event_record(**event)
    return Recorded(fact, created, event_process(fact, at=at, book=book))


def facts_earn_many(
    *,
    purchases: Sequence[Purchase] = (),
    refunds: Sequence[Refund] = (),
    events: Sequence[MemberEvent] = (),
    book: selectors.RuleBook,
    at: datetime.datetime | None = None,
) -> list[Award]:
    """Earn on facts already recorded (a chunk of an import): purchases, then refunds, then
    events, each in order; their awards in that order. What one call per fact would give."""
    awards = purchases_process_many(purchases, book=book, at=at)
    awards += refunds_process_many(refunds, book=book, at=at)
    awards += [event_process(event, book=book, at=at) for event in events]
    return awards
