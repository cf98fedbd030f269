"""The per-member velocity rules, checked as each purchase arrives.

A purchase whose award would take the member above a rule's threshold of points earned or
purchases made in the hour or day up to it opens a case; when the rule's action holds (hold,
freeze) the purchase's award waits for review (``AwardReview``, reason ``risk_rule``). One query
per fact (per import wave: one for its members), and none while no such rule is on.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from campaigns.earning import engine
from campaigns.models import Award, AwardLine, RiskRule
from campaigns.risk.opening import case_open
from members.models import Member
from points.models import PointType

WINDOWS: dict[str, datetime.timedelta] = {
    RiskRule.Window.HOUR: datetime.timedelta(hours=1),
    RiskRule.Window.DAY: datetime.timedelta(days=1),
}


def inline_rules() -> list[RiskRule]:
    """The active rules checked as each purchase arrives (the rule book carries them)."""
    return [rule for rule in RiskRule.objects.filter(active=True, kind=RiskRule.Kind.VELOCITY) if rule.inline]


@dataclass(frozen=True)
class Fired:
    rule: RiskRule
    count: int  # points or purchases in the window, this fact's included
    since: datetime.datetime
    until: datetime.datetime

    def evidence(self) -> dict[str, object]:
        return {
            "measure": self.rule.measure,
            "scope": self.rule.scope,
            "window": self.rule.window,
            "count": self.count,
            "threshold": self.rule.threshold,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
        }


#: The members' purchase awards in a span and the points each gave. In plain SQL: it runs on every
#: purchase while an inline rule is on, and the ORM took longer to build it than the database to
#: answer it (1.7 against 0.5 ms).
PURCHASES_BETWEEN = """
    SELECT a.id, a.member_id, a.occurred_at,
           COALESCE(SUM(CASE WHEN t.code = %s THEN l.amount ELSE 0 END), 0)
    FROM {award} a
    LEFT JOIN {line} l ON l.award_id = a.id
    LEFT JOIN {point_type} t ON t.id = l.point_type_id
    WHERE a.kind = %s AND a.member_id IN ({members}) AND a.occurred_at > %s AND a.occurred_at <= %s
    GROUP BY a.id, a.member_id, a.occurred_at"""


def _purchases_between(
    members: set[int], since: datetime.datetime, until: datetime.datetime
) -> list[tuple[int, int, datetime.datetime, int]]:
    sql = PURCHASES_BETWEEN.format(
        award=Award._meta.db_table,
        line=AwardLine._meta.db_table,
        point_type=PointType._meta.db_table,
        members=", ".join(["%s"] * len(members)),
    )
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [engine.POINTS, Award.Kind.PURCHASE, *sorted(members), adapt(since), adapt(until)]
        )
        return [(pk, member, _aware(at), int(points)) for pk, member, at, points in cursor.fetchall()]


def _aware(value: datetime.datetime | str) -> datetime.datetime:
    """A moment as the database gave it back (SQLite: naive UTC, or text), aware."""
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    return value if timezone.is_aware(value) else value.replace(tzinfo=datetime.UTC)


def velocity_fired(
    facts: Sequence[tuple[Award, engine.Outcome]], rules: Sequence[RiskRule]
) -> dict[int, list[Fired]]:
    """{index in ``facts``: the rules the fact takes its member above}. The facts are
    purchase awards not yet written (at most one per member: the pipeline's facts and an import's
    waves); what their members earned before is read in one query."""
    purchases = [
        (i, award, outcome) for i, (award, outcome) in enumerate(facts) if award.kind == Award.Kind.PURCHASE
    ]
    if not rules or not purchases:
        return {}
    widest = max(WINDOWS[rule.window] for rule in rules)
    own = {award.pk for _i, award, _o in purchases if award.pk}  # a wave wrote its awards already
    before: dict[int, list[tuple[datetime.datetime, int]]] = defaultdict(list)
    for pk, member_id, at, points in _purchases_between(
        {award.member_id for _i, award, _o in purchases},
        min(award.occurred_at for _i, award, _o in purchases) - widest,
        max(award.occurred_at for _i, award, _o in purchases),
    ):
        if pk not in own:
            before[member_id].append((at, points))
    fired: dict[int, list[Fired]] = defaultdict(list)
    for i, award, outcome in purchases:
        for rule in rules:
            since = award.occurred_at - WINDOWS[rule.window]
            earlier = [p for at, p in before[award.member_id] if since < at <= award.occurred_at]
            if rule.measure == RiskRule.Measure.PURCHASES:
                count = len(earlier) + 1
            else:
                count = sum(earlier) + outcome.total(engine.POINTS)
            if count > rule.threshold:
                fired[i].append(Fired(rule, count, since, award.occurred_at))
    return dict(fired)


def velocity_case(fired: Fired, member: Member, award: Award, at: datetime.datetime) -> None:
    """Open the case of a purchase that took ``member`` (locked) above a velocity rule."""
    purchase = award.purchase
    evidence = {
        "summary": fired.evidence(),
        "facts": [
            {
                "what": "purchase",
                "ref": purchase.order_number if purchase is not None else award.key,
                "at": award.occurred_at.isoformat(),
                "amount": str(purchase.paid_amount) if purchase is not None else "",
            }
        ],
    }
    day = timezone.localdate(award.occurred_at)
    case_open(fired.rule, member, day=day, evidence=evidence, at=at, fact=award.key)
