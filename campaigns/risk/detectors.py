"""What each kind of risk rule finds in a span of past data: the members it catches, with evidence.

One function per kind, each a few set-based queries over the span (indexed by time), so the
nightly scan reads one day and a simulation any number of days with the same code. A finding is
one member (for coupon guessing: one partner, store or staff account) caught once in the span;
the scan turns findings into cases, the simulation counts them.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Substr, Trunc
from django.utils import timezone

from benefits.models import CouponMiss, Redemption, Reward
from campaigns.earning import engine
from campaigns.models import Award, AwardLine, RiskRule
from members.models import Identity, Member, Store
from members.partners.models import Partner
from members.purchases.models import Purchase, Refund
from members.referrals.models import MemberDevice
from points.models import Entry

_UNITS = {"hour": datetime.timedelta(hours=1), "day": datetime.timedelta(days=1)}
#: Facts listed as evidence per finding (the counts say how many there were in all).
MAX_FACTS = 20


@dataclass
class Finding:
    """One member caught, or (``member_id`` None) one partner, store or staff account: ``subject``
    is its key (``store:12``), ``label`` what the reviewer reads."""

    member_id: int | None
    summary: dict[str, Any]
    facts: list[dict[str, Any]] = field(default_factory=list)
    subject: str = ""
    label: str = ""

    def evidence(self) -> dict[str, Any]:
        return {"summary": self.summary, "facts": self.facts[:MAX_FACTS]}

    @property
    def who(self) -> int | str:
        """Who was caught: the member's id, or the subject's key."""
        return self.member_id if self.member_id is not None else self.subject


Span = tuple[datetime.datetime, datetime.datetime]


def find(rule: RiskRule, span: Span) -> list[Finding]:
    """The members ``rule`` catches in ``span`` (from, until), each once."""
    return DETECTORS[rule.kind](rule, span)


def _fact(what: str, ref: object, at: datetime.datetime, amount: object = "") -> dict[str, Any]:
    return {"what": what, "ref": str(ref), "at": at.isoformat(), "amount": str(amount)}


# -- velocity ------------------------------------------------------------------------------------

#: measure -> (rows of the span, their time, the amount summed (None: counted), store, member)
_MEASURES: dict[str, Callable[[Span], tuple[QuerySet[Any], str, str | None, str | None, str]]] = {
    RiskRule.Measure.EARNED_POINTS: lambda span: (
        AwardLine.objects.filter(
            occurred_at__gte=span[0], occurred_at__lt=span[1], point_type__code=engine.POINTS, amount__gt=0
        ),
        "occurred_at",
        "amount",
        "award__purchase__store_id",
        "member_id",
    ),
    RiskRule.Measure.PURCHASES: lambda span: (
        Purchase.objects.filter(occurred_at__gte=span[0], occurred_at__lt=span[1], member__isnull=False),
        "occurred_at",
        None,
        "store_id",
        "member_id",
    ),
    RiskRule.Measure.REFUNDS: lambda span: (
        Refund.objects.filter(
            occurred_at__gte=span[0], occurred_at__lt=span[1], purchase__member__isnull=False
        ),
        "occurred_at",
        None,
        "purchase__store_id",
        "purchase__member_id",
    ),
    RiskRule.Measure.REDEMPTIONS: lambda span: (
        Redemption.objects.filter(created_at__gte=span[0], created_at__lt=span[1]),
        "created_at",
        None,
        None,
        "member_id",
    ),
    RiskRule.Measure.ENROLMENTS: lambda span: (
        Member.objects.filter(created_at__gte=span[0], created_at__lt=span[1]),
        "created_at",
        None,
        "registration_store_id",
        "id",
    ),
}


def _scope_key(measure: str, scope: str, store: str | None, member: str) -> str | None:
    """The column a velocity rule counts ``measure`` by (None: the measure does not know it).
    A purchase's or refund's partner is the source that sent it (``api:<code>``, or an import's
    source); an enrolment's, the partners linked to the new member; a redemption has none."""
    person = "" if member == "id" else member.removesuffix("_id") + "__"
    partners: dict[str, str] = {
        RiskRule.Measure.EARNED_POINTS: "award__purchase__source",
        RiskRule.Measure.PURCHASES: "source",
        RiskRule.Measure.REFUNDS: "source",
        RiskRule.Measure.ENROLMENTS: "partner_links__partner_id",
    }
    partner = partners.get(measure)
    keys: dict[str, str | None] = {
        RiskRule.Scope.MEMBER: member,
        RiskRule.Scope.STORE: store,
        RiskRule.Scope.DEVICE: f"{person}devices__device_id",
        RiskRule.Scope.IP: f"{person}ips__ip",
        RiskRule.Scope.PARTNER: partner,
        RiskRule.Scope.PHONE_PREFIX: "phone_prefix",
    }
    return keys.get(scope)  # staff accounts: only coupon guessing counts them


def measure_supports(measure: str, scope: str) -> bool:
    """Whether a velocity rule can count ``measure`` by ``scope`` (redemptions know no store and
    no partner)."""
    _rows, _at, _amount, store, member = _MEASURES[measure]((timezone.now(), timezone.now()))
    return _scope_key(measure, scope, store, member) is not None


def velocity(rule: RiskRule, span: Span) -> list[Finding]:
    rows, at, amount, store, member = _MEASURES[rule.measure](span)
    key = _scope_key(rule.measure, rule.scope, store, member)
    if key is None:
        return []
    if rule.scope == RiskRule.Scope.PHONE_PREFIX:
        mobile = "mobile" if member == "id" else member.removesuffix("_id") + "__mobile"
        rows = rows.annotate(phone_prefix=Substr(mobile, 1, 10))  # +86 and the first 7 digits
    unit = "hour" if rule.window == RiskRule.Window.HOUR else "day"
    rows = rows.filter(**{f"{key}__isnull": False}).annotate(
        bucket=Trunc(at, unit, tzinfo=timezone.get_current_timezone())
    )
    total = Sum(amount) if amount else Count(member, distinct=rule.measure == RiskRule.Measure.ENROLMENTS)
    hot = list(
        rows.values(key, "bucket")
        .annotate(total=total)
        .filter(total__gt=rule.threshold)
        .order_by(key, "bucket")
    )
    if not hot:
        return []
    caught: dict[int, Finding] = {}
    for group in hot:
        value, bucket = group[key], group["bucket"]
        # by the moments the bucket spans (a truncated moment does not compare across databases)
        within = {key: value, f"{at}__gte": bucket, f"{at}__lt": bucket + _UNITS[unit]}
        facts = rows.filter(**within).values_list(member, "pk", at).order_by(at)
        for member_id, pk, when in facts:
            finding = caught.get(member_id) or caught.setdefault(
                member_id,
                Finding(
                    member_id,
                    {
                        "measure": rule.measure,
                        "scope": rule.scope,
                        "value": _shown(rule.scope, value),
                        "window": rule.window,
                        "from": bucket.isoformat(),
                        "count": group["total"],
                        "threshold": rule.threshold,
                    },
                ),
            )
            finding.facts.append(_fact(rule.measure, pk, when))
    return list(caught.values())


def _shown(scope: str, value: object) -> str:
    """The scope's value as evidence: a phone range without its last digits, ids as they are."""
    if scope == RiskRule.Scope.PHONE_PREFIX:
        return f"{value}****"
    return str(value)


# -- patterns -----------------------------------------------------------------------------------


def virtual_phone(rule: RiskRule, span: Span) -> list[Finding]:
    """Members enrolled in the span on a virtual operator's number who collected a welcome bonus
    (a registration award of more than ``threshold`` points)."""
    prefixes = Q()
    for prefix in rule.prefix_list():
        prefixes |= Q(member__mobile__startswith=f"+86{prefix}")
    if not prefixes:
        return []
    bonuses = (
        AwardLine.objects.filter(
            prefixes,
            award__kind=Award.Kind.EVENT,
            award__event__event_type__code="registration",
            point_type__code=engine.POINTS,
            member__created_at__gte=span[0],
            member__created_at__lt=span[1],
        )
        .values("member_id", "award__key", "member__created_at", "member__mobile")
        .annotate(points=Sum("amount"))
        .filter(points__gt=rule.threshold)
        .order_by("member_id")
    )
    return [
        Finding(
            row["member_id"],
            {"prefix": str(row["member__mobile"])[3:6], "bonus": row["points"]},
            [_fact("welcome_bonus", row["award__key"], row["member__created_at"], row["points"])],
        )
        for row in bonuses
    ]


def refund_after_redeem(rule: RiskRule, span: Span) -> list[Finding]:
    """Members with at least ``threshold`` refunds in the span of purchases whose points they had
    spent between the purchase and its refund (the purchase → points → redeem → refund cycle)."""
    spent_meanwhile = Entry.objects.filter(
        account__member_id=OuterRef("purchase__member_id"),
        kind=Entry.Kind.SPEND,
        created_at__gt=OuterRef("purchase__occurred_at"),
        created_at__lt=OuterRef("occurred_at"),
    )
    cycles = (
        Refund.objects.filter(
            occurred_at__gte=span[0], occurred_at__lt=span[1], purchase__member__isnull=False
        )
        .filter(Exists(spent_meanwhile))
        .values_list("purchase__member_id", "purchase__order_number", "occurred_at", "amount")
        .order_by("purchase__member_id", "occurred_at")
    )
    by_member: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for member_id, order, at, amount in cycles:
        by_member[member_id].append(_fact("refund_after_spend", order, at, amount))
    return [
        Finding(member_id, {"cycles": len(facts), "threshold": rule.threshold}, facts)
        for member_id, facts in sorted(by_member.items())
        if len(facts) >= rule.threshold
    ]


def transfer_ring(rule: RiskRule, span: Span) -> list[Finding]:
    """Points transfers in the span that go round (A → B → … → A: everyone on the ring) or fan
    in (at least ``threshold`` senders toward one account: the receiver and the senders)."""
    received = Entry.objects.filter(
        kind=Entry.Kind.TRANSFER, amount__gt=0, created_at__gte=span[0], created_at__lt=span[1]
    ).values_list("account__member_id", "source_ref", "amount", "created_at")
    rows = list(received)
    numbers = {ref.removeprefix("from:") for _m, ref, _a, _at in rows}
    sender_of = dict(Member.objects.filter(member_number__in=numbers).values_list("member_number", "pk"))
    edges: dict[int, set[int]] = defaultdict(set)
    facts: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for receiver, ref, amount, at in rows:
        sender = sender_of.get(ref.removeprefix("from:"))
        if sender is None or sender == receiver:
            continue
        edges[sender].add(receiver)
        facts[receiver].append(_fact("transfer_in", ref, at, amount))
        facts[sender].append(_fact("transfer_out", ref, at, -amount))
    caught: dict[int, Finding] = {}
    senders_of: dict[int, set[int]] = defaultdict(set)
    for sender, receivers in edges.items():
        for receiver in receivers:
            senders_of[receiver].add(sender)
    for receiver, senders in sorted(senders_of.items()):
        if len(senders) >= rule.threshold:
            for member_id in sorted({receiver, *senders}):
                caught.setdefault(
                    member_id,
                    Finding(member_id, {"pattern": "fan", "receiver": receiver, "senders": len(senders)}),
                )
    for ring in _rings(edges):
        for member_id in ring:
            caught.setdefault(member_id, Finding(member_id, {"pattern": "ring", "members": ring}))
    for member_id, finding in caught.items():
        finding.facts = facts[member_id]
    return [caught[member_id] for member_id in sorted(caught)]


def _rings(edges: dict[int, set[int]]) -> list[list[int]]:
    """The strongly connected groups of two or more members (Tarjan's algorithm, iteratively):
    each member of one can send points round back to themselves."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    rings: list[list[int]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    rings.append(sorted(group))
    return rings


def staff_self_dealing(rule: RiskRule, span: Span) -> list[Finding]:
    """Members who are staff of a store (an employee identity whose namespace is the store's code)
    and made at least ``threshold`` purchases at that store in the span."""
    own_store = Identity.objects.filter(
        member_id=OuterRef("member_id"), kind=Identity.Kind.EMPLOYEE, namespace=OuterRef("store__code")
    )
    purchases = (
        Purchase.objects.filter(occurred_at__gte=span[0], occurred_at__lt=span[1], member__isnull=False)
        .filter(Exists(own_store))
        .values_list("member_id", "store__code", "order_number", "occurred_at", "paid_amount")
        .order_by("member_id", "occurred_at")
    )
    by_member: dict[int, list[dict[str, Any]]] = defaultdict(list)
    stores: dict[int, set[str]] = defaultdict(set)
    for member_id, store, order, at, paid in purchases:
        by_member[member_id].append(_fact("purchase_at_own_store", order, at, paid))
        stores[member_id].add(store)
    return [
        Finding(member_id, {"stores": sorted(stores[member_id]), "purchases": len(facts)}, facts)
        for member_id, facts in sorted(by_member.items())
        if len(facts) >= rule.threshold
    ]


def scarce_reward_burst(rule: RiskRule, span: Span) -> list[Finding]:
    """At least ``threshold`` redemptions in one hour of a reward with little stock left, by members
    enrolled within ``new_member_days`` of their redemption: those members."""
    new = Redemption.objects.filter(
        created_at__gte=span[0],
        created_at__lt=span[1],
        reward__stock__isnull=False,
        reward__stock__lte=rule.scarce_stock,
        member__created_at__gt=F("created_at") - datetime.timedelta(days=rule.new_member_days),
    ).annotate(hour=Trunc("created_at", "hour", tzinfo=timezone.get_current_timezone()))
    bursts = list(
        new.values("reward_id", "hour").annotate(total=Count("pk")).filter(total__gte=rule.threshold)
    )
    caught: dict[int, Finding] = {}
    names = dict(Reward.objects.filter(pk__in={b["reward_id"] for b in bursts}).values_list("pk", "name"))
    for burst in bursts:
        hour = burst["hour"]
        rows = new.filter(
            reward_id=burst["reward_id"], created_at__gte=hour, created_at__lt=hour + _UNITS["hour"]
        ).values_list("member_id", "pk", "created_at", "points")
        for member_id, pk, at, points in rows:
            caught.setdefault(
                member_id,
                Finding(
                    member_id,
                    {
                        "reward": names[burst["reward_id"]],
                        "from": burst["hour"].isoformat(),
                        "count": burst["total"],
                    },
                ),
            ).facts.append(_fact("redemption", pk, at, points))
    return [caught[member_id] for member_id in sorted(caught)]


#: scope -> the column of a failed coupon lookup naming who tried
GUESSERS: dict[str, str] = {
    RiskRule.Scope.PARTNER: "partner_id",
    RiskRule.Scope.STORE: "store_id",
    RiskRule.Scope.STAFF: "user_id",
}


def coupon_guessing(rule: RiskRule, span: Span) -> list[Finding]:
    """Partners, stores or staff accounts that looked up more than ``threshold`` coupon codes that
    do not exist (or are not their members') in an hour or a day: codes being guessed."""
    key = GUESSERS.get(rule.scope)
    if key is None:
        return []
    unit = "hour" if rule.window == RiskRule.Window.HOUR else "day"
    misses = CouponMiss.objects.filter(at__gte=span[0], at__lt=span[1], **{f"{key}__isnull": False})
    hot = list(
        misses.annotate(bucket=Trunc("at", unit, tzinfo=timezone.get_current_timezone()))
        .values(key, "bucket")
        .annotate(total=Count("pk"))
        .filter(total__gt=rule.threshold)
        .order_by(key, "bucket")
    )
    labels = _guessers(rule.scope, {group[key] for group in hot})
    caught: dict[int, Finding] = {}
    for group in hot:
        value, bucket = group[key], group["bucket"]
        finding = caught.get(value) or caught.setdefault(
            value,
            Finding(
                None,
                {
                    "scope": rule.scope,
                    "value": labels[value],
                    "window": rule.window,
                    "from": bucket.isoformat(),
                    "count": group["total"],
                    "threshold": rule.threshold,
                },
                subject=f"{rule.scope}:{value}",
                label=labels[value],
            ),
        )
        tried = misses.filter(**{key: value, "at__gte": bucket, "at__lt": bucket + _UNITS[unit]})
        for code, at in tried.values_list("code", "at").order_by("at")[:MAX_FACTS]:
            finding.facts.append(_fact("coupon_miss", f"{code[:4]}****", at))
    return [caught[value] for value in sorted(caught)]


def _guessers(scope: str, ids: set[int]) -> dict[int, str]:
    """What a reviewer reads for each partner, store or staff account: its code and name."""
    if scope == RiskRule.Scope.PARTNER:
        return {p.pk: f"{p.code} {p.name}" for p in Partner.objects.filter(pk__in=ids)}
    if scope == RiskRule.Scope.STORE:
        return {s.pk: f"{s.code} {s.name}" for s in Store.objects.filter(pk__in=ids)}
    users = get_user_model().objects.filter(pk__in=ids)
    return {user.pk: f"{user.get_username()} {user.get_full_name()}".strip() for user in users}


DETECTORS: dict[str, Callable[[RiskRule, Span], list[Finding]]] = {
    RiskRule.Kind.VELOCITY: velocity,
    RiskRule.Kind.VIRTUAL_PHONE: virtual_phone,
    RiskRule.Kind.REFUND_AFTER_REDEEM: refund_after_redeem,
    RiskRule.Kind.TRANSFER_RING: transfer_ring,
    RiskRule.Kind.STAFF_SELF_DEALING: staff_self_dealing,
    RiskRule.Kind.SCARCE_REWARD_BURST: scarce_reward_burst,
    RiskRule.Kind.COUPON_GUESSING: coupon_guessing,
}


def related_members(member_id: int, limit: int = 20) -> list[int]:
    """Other members sharing a device or an identity value (a phone, an id) with ``member_id``."""
    devices = MemberDevice.objects.filter(member_id=member_id).values("device_id")
    values = Identity.objects.filter(member_id=member_id).values("value")
    by_device = MemberDevice.objects.filter(device_id__in=devices).exclude(member_id=member_id)
    by_identity = Identity.objects.filter(value__in=values).exclude(member_id=member_id)
    ids: set[int] = set(by_device.values_list("member_id", flat=True)[:limit])
    ids |= set(by_identity.values_list("member_id", flat=True)[:limit])
    return sorted(ids)[:limit]
