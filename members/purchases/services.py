"""Recording what members did: purchases, refunds and behaviour events, each stored once.

Every recorder is idempotent on the source's own number (order, refund, event key): the same
fact sent again returns the stored one; the same number with different content is refused,
naming the field, and nothing is written. The earning pipeline (campaigns) reads these facts.
"""

from __future__ import annotations

import datetime
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
    lines: list[Line] = (),
    now: datetime.datetime | None = None,
) -> tuple[Purchase, bool]:
    """Store a purchase once; returns (purchase, created)."""
    now = now or timezone.now()
    errors = FieldErrors()
    source, order_number = source.strip(), order_number.strip()
    if not source:
        errors.add("source", _("The source is required."))
    if not order_number:
        errors.add("order_number", _("The order number is required."))
    if channel not in Channel.values:
        errors.add("channel", _("Unknown channel %(channel)s.") % {"channel": channel})
    _check_time(errors, "occurred_at", occurred_at, now)
    amounts = {
        "gross_amount": gross_amount, "paid_amount": paid_amount, "shipping_amount": shipping_amount,
        "gift_card_amount": gift_card_amount, "points_amount": points_amount,
    }  # fmt: skip
    for field, amount in amounts.items():
        _check_amount(errors, field, amount)
    if paid_amount > gross_amount:
        errors.add("paid_amount", _("The paid amount cannot exceed the gross amount."))
    for i, line in enumerate(lines, start=1):
        if not line.sku.strip():
            errors.add("lines", _("Line %(n)d: the SKU is required.") % {"n": i})
        if line.quantity <= 0 or line.amount < 0:
            errors.add(
                "lines", _("Line %(n)d: quantity must be above zero and amount not negative.") % {"n": i}
            )
    errors.raise_if_any()
    fields = {
        "member": member, "channel": channel, "store": store, "occurred_at": occurred_at, **amounts,
    }  # fmt: skip
    if done := Purchase.objects.filter(source=source, order_number=order_number).first():
        return _same_or_refuse(done, fields, "order_number"), False
    try:
        with transaction.atomic():
            purchase = Purchase.objects.create(source=source, order_number=order_number, **fields)
            PurchaseLine.objects.bulk_create(
                PurchaseLine(
                    purchase=purchase, sku=line.sku.strip(), name=line.name, category=line.category,
                    quantity=line.quantity, amount=line.amount,
                )
                for line in lines
            )  # fmt: skip
    except IntegrityError:  # the same order sent twice at the same moment: the first one stands
        done = Purchase.objects.get(source=source, order_number=order_number)
        return _same_or_refuse(done, fields, "order_number"), False
    return purchase, True


def _same_or_refuse(done: Any, fields: dict[str, Any], key_field: str) -> Any:
    differs = [name for name, value in fields.items() if getattr(done, name) != value]
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
) -> list[tuple[Refund, bool] | ValidationError]:
    """``refund_record`` for each fact in order, in one transaction and a few statements (an
    import's returns): per fact (refund, created), or the ValidationError ``refund_record``
    would raise, in which case that fact wrote nothing. The purchases are locked in primary-key
    order; two refunds of one purchase see each other, as two calls would."""
    if not facts:
        return []
    now = now or timezone.now()
    facts = [replace(f, source=f.source.strip(), refund_number=f.refund_number.strip()) for f in facts]
    outcomes: list[tuple[Refund, bool] | ValidationError] = []
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
            except ValidationError as exc:
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
    fields = {"purchase": purchase, "amount": fact.amount, "occurred_at": fact.occurred_at}
    if done is not None:
        return _same_or_refuse(done, fields, "refund_number"), False
    left = purchase.paid_amount - purchase.refunded_amount
    if fact.amount > left:
        FieldErrors.single(
            "amount",
            _("Only %(left)s CNY of this purchase is left to refund.") % {"left": left},
            code="too_much",
        )
    purchase.refunded_amount += fact.amount  # in Python: in SQL, SQLite would add as floats
    purchase.status = (
        Purchase.Status.REFUNDED
        if purchase.refunded_amount == purchase.paid_amount
        else Purchase.Status.PARTLY_REFUNDED
    )
    return Refund(source=fact.source, refund_number=fact.refund_number, **fields), True


def event_record(
    *,
    member: Member,
    event_type: str,
    key: str,
    occurred_at: datetime.datetime,
    channel: str = Channel.APP,
    now: datetime.datetime | None = None,
) -> tuple[MemberEvent, bool]:
    """Store a behaviour fact once per (type, key); returns (event, created)."""
    now = now or timezone.now()
    errors = FieldErrors()
    kind = EventType.objects.filter(code=event_type, active=True).first()
    if kind is None:
        errors.add("event_type", _("Unknown or inactive event type %(type)s.") % {"type": event_type})
    if not key.strip():
        errors.add("key", _("A key is required: it makes the event count once."))
    _check_time(errors, "occurred_at", occurred_at, now)
    errors.raise_if_any()
    fields = {"member": member, "channel": channel, "occurred_at": occurred_at}
    # The same key is the same event only with the same content (a 409 otherwise, as for orders).
    # A registration is keyed by its member whoever reports it (partner_event_key, the importer):
    # the first report's time and channel stand, and a later one is that same registration.
    same = {"member": member} if kind.code == "registration" else fields
    if done := MemberEvent.objects.filter(event_type=kind, key=key.strip()).first():
        return _same_or_refuse(done, same, "key"), False
    try:
        with transaction.atomic():
            return MemberEvent.objects.create(event_type=kind, key=key.strip(), **fields), True
    except IntegrityError:
        done = MemberEvent.objects.get(event_type=kind, key=key.strip())
        return _same_or_refuse(done, same, "key"), False
