"""Recording what members did: purchases, refunds and behaviour events, each stored once.

Every recorder is idempotent on the source's own number (order, refund, event key): the same
fact sent again returns the stored one; the same number with different content is refused,
naming the field, and nothing is written. The earning pipeline (campaigns) reads these facts.

Each fact has one write path: ``purchases_record`` and ``events_record`` take many facts (an
import's chunk) and ``purchase_record``/``event_record`` are those called with one, so the API,
the admin, demo data and imports are judged by the same lines. Refunds lock their purchase:
``refund_record`` and ``refunds_record`` share the checks (``_refund_check``, ``_refund_apply``)
and differ only in how the purchase's total is written (see ``_refunded_write``).
A refund above what is left is a business rule (``RefundTooLarge``, API 422 ``too_much``).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.common.bulk import bulk_insert, bulk_set
from config.common.validation import FieldErrors
from members.models import Channel, Member, Store
from members.purchases.errors import RefundTooLarge
from members.purchases.models import EventType, MemberEvent, Purchase, PurchaseLine, Refund

#: A fact dated further ahead than this is a clock or typing error, not a sale.
FUTURE_TOLERANCE = datetime.timedelta(hours=1)
MAX_AMOUNT = Decimal("1000000")  # one receipt above a million CNY is a typo until proven otherwise


@dataclass(frozen=True)
class Line:
    sku: str
    amount: Decimal
    quantity: Decimal = Decimal(1)
    name: str = ""
    category: str = ""


def _check_time(errors: FieldErrors, field: str, at: datetime.datetime, now: datetime.datetime) -> None:
    if at > now + FUTURE_TOLERANCE:
        errors.add(
            field, _("%(when)s is in the future.") % {"when": f"{timezone.localtime(at):%Y-%m-%d %H:%M}"}
        )


def _check_amount(errors: FieldErrors, field: str, amount: Decimal) -> None:
    if amount < 0:
        errors.add(field, _("An amount cannot be negative."))
    elif amount > MAX_AMOUNT:
        errors.add(field, _("%(amount)s CNY is not a plausible amount.") % {"amount": amount})


@dataclass(frozen=True)
class PurchaseFact:
    """What ``purchase_record`` is given, for ``purchases_record`` (members and stores by id)."""

    member_id: int
    source: str
    order_number: str
    channel: str
    occurred_at: datetime.datetime
    gross_amount: Decimal
    paid_amount: Decimal
    store_id: int | None = None
    shipping_amount: Decimal = Decimal(0)
    gift_card_amount: Decimal = Decimal(0)
    points_amount: Decimal = Decimal(0)
    lines: tuple[Line, ...] = ()

    def stored(self) -> dict[str, Any]:
        """The purchase's fields a resend must repeat, as stored (the key fields aside)."""
        return {
            "member_id": self.member_id,
            "channel": self.channel,
            "store_id": self.store_id,
            "occurred_at": self.occurred_at,
            "gross_amount": self.gross_amount,
            "paid_amount": self.paid_amount,
            "shipping_amount": self.shipping_amount,
            "gift_card_amount": self.gift_card_amount,
            "points_amount": self.points_amount,
        }


def purchase_record(
    *,
    member: Member,
    source: str,
    order_number: str,
    channel: str,
    occurred_at: datetime.datetime,
    gross_amount: Decimal,
    paid_amount: Decimal,
    store: Store | None = None,
    shipping_amount: Decimal = Decimal(0),
    gift_card_amount: Decimal = Decimal(0),
    points_amount: Decimal = Decimal(0),
    lines: Sequence[Line] = (),
    now: datetime.datetime | None = None,
) -> tuple[Purchase, bool]:
    """Store a purchase once; returns (purchase, created). ``purchases_record`` of one."""
    fact = PurchaseFact(
        member_id=member.pk,
        source=source,
        order_number=order_number,
        channel=channel,
        occurred_at=occurred_at,
        gross_amount=gross_amount,
        paid_amount=paid_amount,
        store_id=store.pk if store else None,
        shipping_amount=shipping_amount,
        gift_card_amount=gift_card_amount,
        points_amount=points_amount,
        lines=tuple(lines),
    )
    (outcome,) = purchases_record([fact], now=now)
    if isinstance(outcome, ValidationError):
        raise outcome
    purchase, created = outcome
    purchase.member = member  # the caller's instance: no query to read it back
    if store is not None:
        purchase.store = store
    return purchase, created


def purchases_record(
    facts: list[PurchaseFact], *, now: datetime.datetime | None = None
) -> list[tuple[Purchase, bool] | ValidationError]:
    """Store each purchase once, in order, in a few statements (an import's chunk): per fact
    (purchase, created), or the ValidationError that refuses it, in which case that fact wrote
    nothing. A number recorded before (or earlier in ``facts``) with the same content is that
    purchase, not created; with different content it is refused, naming the fields."""
    if not facts:
        return []
    now = now or timezone.now()
    facts = [replace(f, source=f.source.strip(), order_number=f.order_number.strip()) for f in facts]
    problems = [_purchase_problem(fact, now) for fact in facts]
    for _attempt in range(3):
        outcomes, new = _purchases_plan(facts, problems)
        try:
            with transaction.atomic():
                bulk_insert([purchase for purchase, _fact in new])
                bulk_insert(
                    [
                        PurchaseLine(
                            purchase=purchase,
                            sku=line.sku.strip(),
                            name=line.name,
                            category=line.category,
                            quantity=line.quantity,
                            amount=line.amount,
                        )
                        for purchase, fact in new
                        for line in fact.lines
                    ]
                )
            return outcomes
        except IntegrityError:
            # The same order sent at the same moment by another request or import: the first one
            # stands, and what it recorded is looked up again (then the same, or refused).
            continue
    raise RuntimeError("The same orders kept being recorded concurrently.")  # pragma: no cover


def _purchase_problem(fact: PurchaseFact, now: datetime.datetime) -> ValidationError | None:
    """What a purchase is checked for on its own, before anything is read."""
    errors = FieldErrors()
    if not fact.source:
        errors.add("source", _("The source is required."))
    if not fact.order_number:
        errors.add("order_number", _("The order number is required."))
    if fact.channel not in Channel.values:
        errors.add("channel", _("Unknown channel %(channel)s.") % {"channel": fact.channel})
    _check_time(errors, "occurred_at", fact.occurred_at, now)
    for field in ("gross_amount", "paid_amount", "shipping_amount", "gift_card_amount", "points_amount"):
        _check_amount(errors, field, getattr(fact, field))
    if fact.paid_amount > fact.gross_amount:
        errors.add("paid_amount", _("The paid amount cannot exceed the gross amount."))
    for i, line in enumerate(fact.lines, start=1):
        if not line.sku.strip():
            errors.add("lines", _("Line %(n)d: the SKU is required.") % {"n": i})
        if line.quantity <= 0 or line.amount < 0:
            errors.add(
                "lines", _("Line %(n)d: quantity must be above zero and amount not negative.") % {"n": i}
            )
    return ValidationError(errors.errors) if errors.errors else None


def _purchases_plan(
    facts: list[PurchaseFact], problems: list[ValidationError | None]
) -> tuple[list[tuple[Purchase, bool] | ValidationError], list[tuple[Purchase, PurchaseFact]]]:
    """Each fact's outcome against what is recorded now, and the new purchases, unsaved."""
    keys = {
        (fact.source, fact.order_number) for fact, problem in zip(facts, problems, strict=True) if not problem
    }
    seen: dict[tuple[str, str], Purchase] = {}
    if keys:
        recorded = Purchase.objects.filter(
            source__in={source for source, _number in keys},
            order_number__in={number for _source, number in keys},
        )
        seen = {(p.source, p.order_number): p for p in recorded}
    outcomes: list[tuple[Purchase, bool] | ValidationError] = []
    new: list[tuple[Purchase, PurchaseFact]] = []
    for fact, problem in zip(facts, problems, strict=True):
        if problem is not None:
            outcomes.append(problem)
            continue
        fields = fact.stored()
        if done := seen.get((fact.source, fact.order_number)):
            try:
                outcomes.append((_same_or_refuse(done, fields, "order_number"), False))
            except ValidationError as exc:
                outcomes.append(exc)
            continue
        purchase = Purchase(source=fact.source, order_number=fact.order_number, **fields)
        seen[(fact.source, fact.order_number)] = purchase
        new.append((purchase, fact))
        outcomes.append((purchase, True))
    return outcomes, new


def _same_or_refuse(done: Any, fields: dict[str, Any], key_field: str) -> Any:
    differs = [name.removesuffix("_id") for name, value in fields.items() if getattr(done, name) != value]
    if differs:
        FieldErrors.single(
            key_field,
            _("%(number)s was already recorded with a different %(fields)s.")
            % {"number": getattr(done, key_field), "fields": ", ".join(differs)},
            code="conflict",
        )
    return done


def refund_record(
    *,
    purchase: Purchase,
    source: str,
    refund_number: str,
    amount: Decimal,
    occurred_at: datetime.datetime,
    now: datetime.datetime | None = None,
) -> tuple[Refund, bool]:
    """Store a refund once; never more than was paid in total. Returns (refund, created)."""
    fact = RefundFact(purchase, source.strip(), refund_number.strip(), amount, occurred_at)
    _refund_check(fact, now or timezone.now())
    with transaction.atomic():
        # Refunds of one purchase take turns: the same refund sent twice at once finds the first
        # (the unique key would refuse the second with a database error), and ``refunds_record``,
        # which writes amounts computed in Python, never runs between this read and this write.
        purchase = Purchase.objects.select_for_update().get(pk=purchase.pk)
        done = Refund.objects.filter(source=fact.source, refund_number=fact.refund_number).first()
        read = purchase.refunded_amount
        refund, created = _refund_apply(fact, purchase, done)
        if created:
            refund.save(force_insert=True)
            _refunded_write(fact, purchase, read)
    return refund, created


def _refunded_write(fact: RefundFact, purchase: Purchase, read: Decimal) -> None:
    """Write the purchase's refunded amount and status, computed from ``read``, only over ``read``.

    The UPDATE's condition is checked against the committed row, so a refund written since the
    read makes it match nothing instead of being overwritten: this refund is then applied again
    on top of it, checked again against what is left. The arithmetic stays in Python (SQLite would
    add decimals as floats), yet no concurrent refund's amount can be lost, lock or no lock.
    """
    while not Purchase.objects.filter(pk=purchase.pk, refunded_amount=read).update(
        refunded_amount=purchase.refunded_amount, status=purchase.status
    ):
        fresh = Purchase.objects.get(pk=purchase.pk)
        read = fresh.refunded_amount
        _refund_apply(fact, fresh, None)  # raises if the other refund left too little
        purchase.refunded_amount, purchase.status = fresh.refunded_amount, fresh.status


@dataclass(frozen=True)
class RefundFact:
    """What ``refund_record`` is given, for ``refunds_record``."""

    purchase: Purchase
    source: str
    refund_number: str
    amount: Decimal
    occurred_at: datetime.datetime


def refunds_record(
    facts: list[RefundFact], *, now: datetime.datetime | None = None
) -> list[tuple[Refund, bool] | ValidationError | RefundTooLarge]:
    """``refund_record`` for each fact in order, in one transaction and a few statements (an
    import's returns): per fact (refund, created), or the error ``refund_record`` would raise
    (ValidationError, ``RefundTooLarge``), in which case that fact wrote nothing. The purchases
    are locked in primary-key order; two refunds of one purchase see each other, as two calls
    would."""
    if not facts:
        return []
    now = now or timezone.now()
    facts = [replace(f, source=f.source.strip(), refund_number=f.refund_number.strip()) for f in facts]
    outcomes: list[tuple[Refund, bool] | ValidationError | RefundTooLarge] = []
    with transaction.atomic():
        purchases = {
            p.pk: p
            for p in Purchase.objects.select_for_update()
            .filter(pk__in={fact.purchase.pk for fact in facts})
            .order_by("pk")
        }
        seen = {
            (r.source, r.refund_number): r
            for r in Refund.objects.filter(
                source__in={f.source for f in facts}, refund_number__in={f.refund_number for f in facts}
            )
        }
        new, changed = [], {}
        for fact in facts:
            purchase = purchases[fact.purchase.pk]
            try:
                _refund_check(fact, now)
                refund, created = _refund_apply(fact, purchase, seen.get((fact.source, fact.refund_number)))
            except (ValidationError, RefundTooLarge) as exc:
                outcomes.append(exc)
                continue
            if created:
                seen[(fact.source, fact.refund_number)] = refund
                new.append(refund)
                changed[purchase.pk] = purchase
            outcomes.append((refund, created))
        bulk_insert(new)
        bulk_set(list(changed.values()), ["refunded_amount", "status"])
    return outcomes


def _refund_check(fact: RefundFact, now: datetime.datetime) -> None:
    """What a refund is checked for on its own, before anything is locked."""
    errors = FieldErrors()
    if not fact.source or not fact.refund_number:
        errors.add("refund_number", _("The source and refund number are required."))
    if fact.amount <= 0:
        errors.add("amount", _("A refund amount must be above zero."))
    _check_time(errors, "occurred_at", fact.occurred_at, now)
    if fact.occurred_at < fact.purchase.occurred_at:
        errors.add("occurred_at", _("A refund cannot come before its purchase."))
    errors.raise_if_any()


def _refund_apply(fact: RefundFact, purchase: Purchase, done: Refund | None) -> tuple[Refund, bool]:
    """The refund against its locked purchase: the one recorded before under its number (the
    same, or refused), or a new one, unsaved, with the purchase's refunded amount and status
    updated in memory (the caller writes both). Never more than is left to refund."""
    fields = {"purchase_id": purchase.pk, "amount": fact.amount, "occurred_at": fact.occurred_at}
    if done is not None:
        return _same_or_refuse(done, fields, "refund_number"), False
    left = purchase.paid_amount - purchase.refunded_amount
    if fact.amount > left:
        raise RefundTooLarge(
            _("Only %(left)s CNY of this purchase is left to refund.") % {"left": left},
            field="amount",
            left=str(left),
        )
    purchase.refunded_amount += fact.amount  # in Python: in SQL, SQLite would add as floats
    purchase.status = (
        Purchase.Status.REFUNDED
        if purchase.refunded_amount == purchase.paid_amount
        else Purchase.Status.PARTLY_REFUNDED
    )
    refund = Refund(
        source=fact.source,
        refund_number=fact.refund_number,
        purchase=purchase,
        amount=fact.amount,
        occurred_at=fact.occurred_at,
    )
    return refund, True


@dataclass(frozen=True)
class EventFact:
    """What ``event_record`` is given, for ``events_record`` (the member by id)."""

    member_id: int
    event_type: str
    key: str
    occurred_at: datetime.datetime
    channel: str = Channel.APP


def event_record(
    *,
    member: Member,
    event_type: str,
    key: str,
    occurred_at: datetime.datetime,
    channel: str = Channel.APP,
    now: datetime.datetime | None = None,
) -> tuple[MemberEvent, bool]:
    """Store a behaviour fact once per (type, key); returns (event, created). ``events_record``
    of one."""
    (outcome,) = events_record([EventFact(member.pk, event_type, key, occurred_at, channel)], now=now)
    if isinstance(outcome, ValidationError):
        raise outcome
    event, created = outcome
    event.member = member  # the caller's instance: no query to read it back
    return event, created


def events_record(
    facts: list[EventFact], *, now: datetime.datetime | None = None
) -> list[tuple[MemberEvent, bool] | ValidationError]:
    """Store each behaviour fact once per (type, key), in order, in a few statements: per fact
    (event, created), or the ValidationError that refuses it (that fact wrote nothing)."""
    if not facts:
        return []
    now = now or timezone.now()
    facts = [replace(f, key=f.key.strip()) for f in facts]
    kinds = {
        kind.code: kind
        for kind in EventType.objects.filter(code__in={f.event_type for f in facts}, active=True)
    }
    problems = [_event_problem(fact, kinds, now) for fact in facts]
    for _attempt in range(3):
        outcomes, new = _events_plan(facts, problems, kinds)
        try:
            with transaction.atomic():
                bulk_insert(new)
            return outcomes
        except IntegrityError:  # the same event reported at the same moment: the first one stands
            continue
    raise RuntimeError("The same events kept being recorded concurrently.")  # pragma: no cover


def _event_problem(
    fact: EventFact, kinds: dict[str, EventType], now: datetime.datetime
) -> ValidationError | None:
    errors = FieldErrors()
    if fact.event_type not in kinds:
        errors.add("event_type", _("Unknown or inactive event type %(type)s.") % {"type": fact.event_type})
    if not fact.key:
        errors.add("key", _("A key is required: it makes the event count once."))
    _check_time(errors, "occurred_at", fact.occurred_at, now)
    return ValidationError(errors.errors) if errors.errors else None


def _events_plan(
    facts: list[EventFact], problems: list[ValidationError | None], kinds: dict[str, EventType]
) -> tuple[list[tuple[MemberEvent, bool] | ValidationError], list[MemberEvent]]:
    """Each fact's outcome against what is recorded now, and the new events, unsaved."""
    wanted = [fact for fact, problem in zip(facts, problems, strict=True) if problem is None]
    seen: dict[tuple[int, str], MemberEvent] = {}
    if wanted:
        recorded = MemberEvent.objects.filter(
            event_type__in={kinds[f.event_type].pk for f in wanted}, key__in={f.key for f in wanted}
        )
        seen = {(event.event_type_id, event.key): event for event in recorded}
    outcomes: list[tuple[MemberEvent, bool] | ValidationError] = []
    new: list[MemberEvent] = []
    for fact, problem in zip(facts, problems, strict=True):
        if problem is not None:
            outcomes.append(problem)
            continue
        kind = kinds[fact.event_type]
        fields = {"member_id": fact.member_id, "channel": fact.channel, "occurred_at": fact.occurred_at}
        if done := seen.get((kind.pk, fact.key)):
            # The same key is the same event only with the same content (a 409 otherwise, as for
            # orders). A registration is keyed by its member whoever reports it
            # (partner_event_key, the importer): the first report's time and channel stand, and a
            # later one is that same registration.
            same = {"member_id": fact.member_id} if kind.code == "registration" else fields
            try:
                outcomes.append((_same_or_refuse(done, same, "key"), False))
            except ValidationError as exc:
                outcomes.append(exc)
            continue
        event = MemberEvent(event_type=kind, key=fact.key, **fields)
        seen[(kind.pk, fact.key)] = event
        new.append(event)
        outcomes.append((event, True))
    return outcomes, new
