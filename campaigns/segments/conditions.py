"""What each condition field means: the operators it takes, the value columns it reads, and the
filter on members it becomes.

Every test on another table is an ``Exists`` (or, for "at least", an ``IN`` over one grouped
pass), never ``NOT IN``: PostgreSQL plans ``NOT EXISTS`` as an anti-join, while ``NOT IN`` over a
large subquery that does not fit in memory is read again for every member.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Aggregate, Count, Exists, F, OuterRef, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.segments.models import Condition, Field, Operator
from members.models import Channel, ConsentChannel, Gender, Member
from members.purchases.models import Purchase
from members.scoring.models import MemberScore, Stage
from members.scoring.models import Segment as RfmSegment
from points.models import Account, Entry, Lot
from points.selectors import expiring_lots
from tiers.models import MemberTier

IS = (Operator.IS, Operator.IS_NOT)
RANGE = (Operator.AT_LEAST, Operator.AT_MOST)

MONTHS = [(str(n), _("month %(n)s") % {"n": n}) for n in range(1, 13)]
RELATIVE_MONTHS = [("this", _("this month")), ("next", _("next month"))]


@dataclass(frozen=True)
class Spec:
    operators: tuple[str, ...]
    inputs: tuple[str, ...]  # the Condition columns it needs
    test: Callable[[Condition, datetime.datetime], Q]  # the members for which it holds (IS / AT_LEAST)
    choices: tuple[tuple[str, Any], ...] = ()
    #: for AT_MOST: the members over the limit (the test, negated); absent for IS-only fields
    over: Callable[[Condition, datetime.datetime], Q] | None = None


def _since(condition: Condition, now: datetime.datetime) -> datetime.datetime:
    return now - datetime.timedelta(days=condition.days or 0)


def _totals(rows: QuerySet[Any], member: str, amount: Aggregate, minimum: Decimal) -> Q:
    """Members whose rows add up to ``minimum`` or more: one grouped pass, joined as a set."""
    if minimum <= 0:
        return Q()
    over = rows.values(member).annotate(total=amount).filter(total__gte=minimum).values(member)
    return Q(pk__in=over)


def _totals_over(rows: QuerySet[Any], member: str, amount: Aggregate, limit: Decimal) -> Q:
    """Members whose rows add up to more than ``limit`` (negated for "at most"): correlated, so
    its negation is an anti-join."""
    over = (
        rows.filter(**{member: OuterRef("pk")}).values(member).annotate(total=amount).filter(total__gt=limit)
    )
    return Q(Exists(over))


def _redeemable_accounts() -> QuerySet[Account]:
    return Account.objects.filter(point_type__redeemable=True)


def _window_purchases(condition: Condition, now: datetime.datetime) -> QuerySet[Purchase]:
    return Purchase.objects.filter(occurred_at__gte=_since(condition, now), occurred_at__lt=now)


def _earned(condition: Condition, now: datetime.datetime) -> QuerySet[Entry]:
    return Entry.objects.filter(
        kind=Entry.Kind.EARN,
        account__point_type__redeemable=True,
        created_at__gte=_since(condition, now),
        created_at__lt=now,
    )


def _expiring(condition: Condition, now: datetime.datetime) -> QuerySet[Lot]:
    return expiring_lots(within_days=condition.days or 0, now=now).filter(
        account__point_type__redeemable=True
    )


_NET = Sum(F("paid_amount") - F("refunded_amount"))
_ORDERS = Count("pk")


def _number(condition: Condition) -> Decimal:
    return condition.number if condition.number is not None else Decimal(0)


def _tier(condition: Condition, now: datetime.datetime) -> Q:
    statuses = MemberTier.objects.filter(member=OuterRef("pk"))
    if condition.tier is not None and condition.tier.rank == 0:
        # members get a status row only when something happens to their tier: no row = entry
        return ~Q(Exists(statuses.exclude(tier=condition.tier)))
    return Q(Exists(statuses.filter(tier=condition.tier)))


def _birthday(condition: Condition, now: datetime.datetime) -> Q:
    month = timezone.localtime(now).month
    wanted = {"this": month, "next": month % 12 + 1}.get(condition.choice) or int(condition.choice)
    return Q(birthday__month=wanted)


def _silent(condition: Condition, now: datetime.datetime) -> Q:
    """At least N days since the last purchase: bought once, but not in the last N days. Only
    purchases before ``now`` count: a campaign asks as of its fact, which is not its own past."""
    bought = Purchase.objects.filter(member=OuterRef("pk"), occurred_at__lt=now)
    return Q(Exists(bought)) & ~Q(Exists(bought.filter(occurred_at__gte=_since(condition, now))))


def _silent_over(condition: Condition, now: datetime.datetime) -> Q:
    """Negated for "at most N days": the members who did not buy in the last N days."""
    recent = Purchase.objects.filter(
        member=OuterRef("pk"), occurred_at__gte=_since(condition, now), occurred_at__lt=now
    )
    return ~Q(Exists(recent))


FIELDS: dict[str, Spec] = {
    Field.TIER: Spec(IS, ("tier",), _tier),
    Field.RFM: Spec(
        IS,
        ("choice",),
        lambda c, now: Q(Exists(MemberScore.objects.filter(member=OuterRef("pk"), segment=c.choice))),
        tuple(RfmSegment.choices),
    ),
    Field.STAGE: Spec(
        IS,
        ("choice",),
        lambda c, now: Q(Exists(MemberScore.objects.filter(member=OuterRef("pk"), stage=c.choice))),
        tuple(Stage.choices),
    ),
    Field.TAG: Spec(
        IS,
        ("tag",),
        lambda c, now: Q(Exists(Member.tags.through.objects.filter(member=OuterRef("pk"), tag=c.tag))),
    ),
    Field.SPEND: Spec(
        RANGE,
        ("number", "days"),
        lambda c, now: _totals(_window_purchases(c, now), "member", _NET, _number(c)),
        over=lambda c, now: _totals_over(_window_purchases(c, now), "member", _NET, _number(c)),
    ),
    Field.ORDERS: Spec(
        RANGE,
        ("number", "days"),
        lambda c, now: _totals(_window_purchases(c, now), "member", _ORDERS, _number(c)),
        over=lambda c, now: _totals_over(_window_purchases(c, now), "member", _ORDERS, _number(c)),
    ),
    Field.EARNED: Spec(
        RANGE,
        ("number", "days"),
        lambda c, now: _totals(_earned(c, now), "account__member", Sum("amount"), _number(c)),
        over=lambda c, now: _totals_over(_earned(c, now), "account__member", Sum("amount"), _number(c)),
    ),
    Field.SILENT: Spec(RANGE, ("days",), _silent, over=_silent_over),
    Field.AVAILABLE: Spec(
        RANGE,
        ("number",),
        lambda c, now: _totals(_redeemable_accounts(), "member", Sum("available"), _number(c)),
        over=lambda c, now: _totals_over(_redeemable_accounts(), "member", Sum("available"), _number(c)),
    ),
    Field.EXPIRING: Spec(
        RANGE,
        ("number", "days"),
        lambda c, now: _totals(_expiring(c, now), "account__member", Sum("remaining"), _number(c)),
        over=lambda c, now: _totals_over(_expiring(c, now), "account__member", Sum("remaining"), _number(c)),
    ),
    Field.BIRTHDAY: Spec(IS, ("choice",), _birthday, (*RELATIVE_MONTHS, *MONTHS)),
    Field.STORE: Spec(IS, ("store",), lambda c, now: Q(registration_store=c.store)),
    Field.CHANNEL: Spec(
        IS, ("choice",), lambda c, now: Q(registration_channel=c.choice), tuple(Channel.choices)
    ),
    Field.JOINED: Spec(
        RANGE,
        ("days",),
        lambda c, now: Q(created_at__lte=_since(c, now)),
        over=lambda c, now: Q(created_at__lt=_since(c, now)),
    ),
    Field.CITY: Spec(IS, ("text",), lambda c, now: Q(city__iexact=c.text.strip())),
    Field.CONSENT: Spec(
        IS, ("choice",), lambda c, now: Q(**{f"{c.choice}_consent": True}), tuple(ConsentChannel.choices)
    ),
    Field.GENDER: Spec(IS, ("choice",), lambda c, now: Q(gender=c.choice), tuple(Gender.choices)),
}


def condition_q(condition: Condition, now: datetime.datetime) -> Q:
    """The members for whom ``condition`` holds at ``now``."""
    spec = FIELDS[condition.field]
    if condition.operator == Operator.IS_NOT:
        return ~spec.test(condition, now)
    if condition.operator == Operator.AT_MOST:
        assert spec.over is not None
        return ~spec.over(condition, now)
    return spec.test(condition, now)


def condition_errors(condition: Condition) -> dict[str, str]:
    """What is wrong with a condition, by column (empty when it can be evaluated)."""
    spec = FIELDS.get(condition.field)
    if spec is None:
        return {}  # the field's own choices validation names it
    errors: dict[str, Any] = {}
    if condition.operator and condition.operator not in spec.operators:
        allowed = " / ".join(str(Operator(o).label) for o in spec.operators)
        errors["operator"] = _("This field takes: %(operators)s.") % {"operators": allowed}
    for column in spec.inputs:
        value = getattr(condition, f"{column}_id", None) if column in ("tier", "store", "tag") else None
        value = value if value is not None else getattr(condition, column, None)
        if value in (None, ""):
            errors[column] = _("Needed for “%(field)s”.") % {"field": Field(condition.field).label}
    if "choice" in spec.inputs and condition.choice and condition.choice not in dict(spec.choices):
        errors["choice"] = _("Not a value of “%(field)s”.") % {"field": Field(condition.field).label}
    return errors


def validate(condition: Condition) -> None:
    errors = condition_errors(condition)
    if errors:
        raise ValidationError(errors)


def describe(condition: Condition) -> str:
    """The condition as a sentence fragment, in the reader's language."""
    value: Any
    spec = FIELDS.get(condition.field)
    if spec is None:
        return condition.field
    parts = []
    for column in spec.inputs:
        if column == "choice":
            value = dict(spec.choices).get(condition.choice, condition.choice)
        elif column == "days" and condition.field not in (Field.SILENT, Field.JOINED):
            value = _("%(days)s days") % {"days": condition.days}
        else:
            value = getattr(condition, column)
        parts.append(str(value))
    return f"{Field(condition.field).label} {Operator(condition.operator).label} {' · '.join(parts)}"
