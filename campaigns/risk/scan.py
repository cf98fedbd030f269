"""The nightly pattern scan, and the simulation of a rule over past data.

The scan runs every active rule that is not checked inline over one local day (a pattern rule
reads the days it looks back too) and opens a case per member caught (``campaigns.risk.opening``),
keyed by rule, day and member: scanning a day twice opens nothing new. The simulation runs one
rule, active or not, over past days with the same code and writes nothing: what it reports is
what the rule does on the same data.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from benefits.coupons import coupon_misses_prune
from campaigns.earning import engine
from campaigns.models import Award, RiskCase, RiskRule
from campaigns.risk.detectors import Finding, Span, find
from campaigns.risk.inline import WINDOWS
from campaigns.risk.opening import case_open
from members.models import Member


def day_span(day: datetime.date) -> Span:
    """The local day ``day``, as the moments it runs from and until."""
    start = datetime.datetime.combine(day, datetime.time.min)
    return timezone.make_aware(start), timezone.make_aware(start + datetime.timedelta(days=1))


def lookback(rule: RiskRule) -> int:
    """How many days a scan of ``rule`` reads; a member is caught once in so many days."""
    if rule.kind in (RiskRule.Kind.VELOCITY, RiskRule.Kind.COUPON_GUESSING):
        return 1
    return max(1, rule.lookback_days)


def rule_span(rule: RiskRule, day: datetime.date) -> Span:
    """What a scan of ``day`` reads for ``rule``: the day, and the days before it it looks back."""
    return day_span(day - datetime.timedelta(days=lookback(rule) - 1))[0], day_span(day)[1]


def risk_scan(day: datetime.date | None = None, *, at: datetime.datetime | None = None) -> dict[str, int]:
    """Scan ``day`` (default: yesterday, local time) with every active scanned rule; {rule name:
    cases opened}."""
    at = at or timezone.now()
    day = day or timezone.localdate(at) - datetime.timedelta(days=1)
    opened: dict[str, int] = {}
    for rule in RiskRule.objects.filter(active=True).order_by("pk"):
        if rule.inline:
            continue
        findings = find(rule, rule_span(rule, day))
        since = day - datetime.timedelta(days=lookback(rule) - 1)
        recent = set(
            RiskCase.objects.filter(
                rule=rule, member_id__in=[f.member_id for f in findings], day__gte=since, day__lt=day
            ).values_list("member_id", flat=True)
        )
        opened[rule.name] = sum(_open(rule, f, day, at) for f in findings if f.member_id not in recent)
    coupon_misses_prune(at)  # the guessing rules' facts, kept as long as a simulation reads back
    return opened


def _open(rule: RiskRule, finding: Finding, day: datetime.date, at: datetime.datetime) -> bool:
    if finding.member_id is None:  # no member to lock
        subject = (finding.subject, finding.label)
        return case_open(rule, None, day=day, evidence=finding.evidence(), at=at, subject=subject) is not None
    with transaction.atomic():
        member = Member.objects.select_for_update(no_key=True).get(pk=finding.member_id)
        return case_open(rule, member, day=day, evidence=finding.evidence(), at=at) is not None


@dataclass
class Simulation:
    """What a rule would have done over the days simulated."""

    rule: RiskRule
    days: int
    cases: int = 0
    members: set[int] = field(default_factory=set)
    #: awards that would have been held: the purchases an inline rule fires on, and the awards
    #: from outside (purchases, events) of a member after the day a holding rule caught them
    awards_held: int = 0
    points_held: int = 0
    #: members caught who are fine as far as is known now: active, and no case of theirs confirmed
    proved_fine: int = 0
    by_day: list[tuple[datetime.date, int]] = field(default_factory=list)
    #: partners, stores or staff accounts caught (the rules whose cases are not members')
    subjects: int = 0


def simulate(rule: RiskRule, since: datetime.date, until: datetime.date) -> Simulation:
    """Run ``rule`` over the local days from ``since`` to ``until`` (inclusive), writing nothing."""
    result = Simulation(rule=rule, days=(until - since).days + 1)
    held_from: dict[int | str, datetime.datetime] = {}  # when each member's awards start being held
    if rule.inline:
        fired = inline_replay(rule, (day_span(since)[0], day_span(until)[1]))
        result.cases = len(fired)
        result.by_day = sorted(_by_day(fired).items())
        for member_id, at, _points in fired:
            held_from.setdefault(member_id, at)
    else:
        last: dict[int | str, datetime.date] = {}
        for offset in range(result.days):
            day = since + datetime.timedelta(days=offset)
            # as the scan: a member caught within the look-back is not caught again
            findings = [
                f
                for f in find(rule, rule_span(rule, day))
                if f.who not in last or (day - last[f.who]).days >= lookback(rule)
            ]
            result.by_day.append((day, len(findings)))
            result.cases += len(findings)
            for finding in findings:
                held_from.setdefault(finding.who, day_span(day)[1])  # from the scan on
                last[finding.who] = day
    if not rule.on_members:  # partners, stores or staff accounts: nothing is held, no member is fine
        result.subjects = len(held_from)
        return result
    result.members = {who for who in held_from if isinstance(who, int)}  # all of them, for these rules
    if rule.holds and held_from:
        # a holding case holds what the member earns from outside until it is decided
        after = Q()
        for who, at in held_from.items():
            # inline: from the purchase that fired, itself included
            after |= Q(member_id=who, **{"occurred_at__gte" if rule.inline else "occurred_at__gt": at})
        awards = Award.objects.filter(
            after, occurred_at__lt=day_span(until)[1], kind__in=[Award.Kind.PURCHASE, Award.Kind.EVENT]
        )
        result.awards_held = awards.count()
        points = awards.filter(lines__point_type__code=engine.POINTS).aggregate(total=Sum("lines__amount"))
        result.points_held = points["total"] or 0
    confirmed = RiskCase.objects.filter(
        member_id__in=result.members, status__in=[RiskCase.Status.REJECTED, RiskCase.Status.FROZEN]
    ).values("member_id")
    result.proved_fine = (
        Member.objects.filter(pk__in=result.members, status=Member.Status.ACTIVE)
        .exclude(pk__in=confirmed)
        .count()
    )
    return result


def _by_day(held: list[tuple[int, datetime.datetime, int]]) -> dict[datetime.date, int]:
    counts: dict[datetime.date, int] = defaultdict(int)
    for _m, at, _p in held:
        counts[timezone.localdate(at)] += 1
    return counts


def inline_replay(rule: RiskRule, span: Span) -> list[tuple[int, datetime.datetime, int]]:
    """The purchases in ``span`` an inline rule fires on, as ``campaigns.risk.inline`` decides them
    when they arrive (each purchase counted with those of the window before it): (member,
    time, the purchase's points)."""
    window = WINDOWS[rule.window]
    rows = (
        Award.objects.filter(
            kind=Award.Kind.PURCHASE, occurred_at__gte=span[0] - window, occurred_at__lt=span[1]
        )
        .values_list("pk", "member_id", "occurred_at")
        .annotate(points=Sum("lines__amount", filter=Q(lines__point_type__code=engine.POINTS)))
        .order_by("member_id", "occurred_at", "pk")
    )
    fired: list[tuple[int, datetime.datetime, int]] = []
    recent: list[tuple[datetime.datetime, int]] = []
    current = None
    for _pk, member_id, at, points in rows:
        if member_id != current:
            current, recent = member_id, []
        recent = [(when, p) for when, p in recent if when > at - window]
        count = (
            len(recent) + 1
            if rule.measure == RiskRule.Measure.PURCHASES
            else sum(p for _w, p in recent) + (points or 0)
        )
        recent.append((at, points or 0))
        if at >= span[0] and count > rule.threshold:
            fired.append((member_id, at, points or 0))
    return fired
