"""The per-member velocity rules, checked as each purchase arrives.

A purchase whose award would take the member above a rule's threshold of points earned or
purchases made in the hour or day up to it is held for review (``AwardReview``, reason
``risk_rule``) and opens a case. One query per fact (per import wave: one for its members), and
none while no such rule is on.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Q, Sum
from django.utils import timezone

from campaigns.earning import engine
from campaigns.models import Award, RiskRule
from campaigns.risk.opening import case_open
from members.models import Member

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
    window = Q()
    for _i, award, _o in purchases:
        window |= Q(
            member_id=award.member_id,
            occurred_at__gt=award.occurred_at - widest,
            occurred_at__lte=award.occurred_at,
        )
    before: dict[int, list[tuple[datetime.datetime, int]]] = defaultdict(list)
    rows = (
        Award.objects.filter(window, kind=Award.Kind.PURCHASE)
        .exclude(pk__in=[award.pk for _i, award, _o in purchases if award.pk])  # a wave wrote its own
        .values_list("pk", "member_id", "occurred_at")
        .annotate(points=Sum("lines__amount", filter=Q(lines__point_type__code=engine.POINTS)))
    )
    for _pk, member_id, at, points in rows:
        before[member_id].append((at, points or 0))
    fired: dict[int, list[Fired]] = defaultdict(list)
    for i, award, outcome in purchases:
        for rule in rules:
            since = award.occurred_at - WINDOWS[rule.window]
            earlier = [points for at, points in before[award.member_id] if at > since]
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
