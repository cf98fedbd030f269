"""Purchases, refunds and behaviour events are stored once, and bad input is refused whole."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from members.purchases.errors import RefundTooLarge
from members.purchases.models import MemberEvent, Purchase, PurchaseLine, Refund
from members.purchases.services import (
    EventFact,
    Line,
    PurchaseFact,
    RefundFact,
    event_record,
    events_record,
    purchase_record,
    purchases_record,
    refund_record,
    refunds_record,
)

pytestmark = pytest.mark.django_db

AT = timezone.make_aware(datetime.datetime(2026, 11, 11, 20, 15))
NOW = AT + datetime.timedelta(hours=2)


def buy(member, store, number="R0001", **kw):
    fields = {
        "member": member, "source": "pos:S0000", "order_number": number, "channel": "store", "store": store,
        "occurred_at": AT, "gross_amount": Decimal("1299.00"), "paid_amount": Decimal("1234.56"),
        "now": NOW, **kw,
    }  # fmt: skip
    return purchase_record(**fields)


def test_a_purchase_is_stored_once_and_knows_what_earns(member, store):
    purchase, created = buy(
        member, store, shipping_amount=Decimal("10"), gift_card_amount=Decimal("100"),
        lines=[Line(sku="SKU-1", amount=Decimal("1299.00"), category="咖啡")],
    )  # fmt: skip
    assert created and purchase.eligible_amount == Decimal("1124.56")
    again, created = buy(member, store, shipping_amount=Decimal("10"), gift_card_amount=Decimal("100"))
    assert (again, created) == (purchase, False)
    assert Purchase.objects.count() == 1 and PurchaseLine.objects.get().category == "咖啡"


def test_the_same_order_number_with_other_content_is_refused(member, store):
    buy(member, store)
    with pytest.raises(ValidationError) as caught:
        buy(member, store, paid_amount=Decimal("1.00"))
    assert "paid_amount" in caught.value.message_dict["order_number"][0]
    assert Purchase.objects.get().paid_amount == Decimal("1234.56")


def test_bad_purchases_name_every_field_and_write_nothing(member, store):
    with pytest.raises(ValidationError) as caught:
        buy(
            member, store, order_number=" ", channel="fax", occurred_at=NOW + datetime.timedelta(days=2),
            gross_amount=Decimal("10"), paid_amount=Decimal("20"), shipping_amount=Decimal("-1"),
            lines=[Line(sku="", amount=Decimal("1"))],
        )  # fmt: skip
    assert set(caught.value.message_dict) == {
        "order_number", "channel", "occurred_at", "paid_amount", "shipping_amount", "lines",
    }  # fmt: skip
    assert not Purchase.objects.exists()


def test_refunds_count_once_and_never_exceed_what_was_paid(member, store):
    purchase, _ = buy(member, store)
    later = AT + datetime.timedelta(days=1)
    refund_record(
        purchase=purchase, source="pos:S0000", refund_number="T1", amount=Decimal("234.56"), occurred_at=later
    )
    refund_record(
        purchase=purchase, source="pos:S0000", refund_number="T1", amount=Decimal("234.56"), occurred_at=later
    )
    purchase.refresh_from_db()
    assert (purchase.refunded_amount, purchase.status) == (Decimal("234.56"), "partly_refunded")
    with pytest.raises(RefundTooLarge) as caught:
        refund_record(
            purchase=purchase,
            source="pos:S0000",
            refund_number="T2",
            amount=Decimal("1000.01"),
            occurred_at=later,
        )
    assert (caught.value.code, caught.value.message, caught.value.details) == (
        "too_much",
        "Only 1000.00 CNY of this purchase is left to refund.",
        {"field": "amount", "left": "1000.00"},
    )
    refund_record(
        purchase=purchase, source="pos:S0000", refund_number="T3", amount=Decimal("1000"), occurred_at=later
    )
    purchase.refresh_from_db()
    assert (purchase.refunded_amount, purchase.status, Refund.objects.count()) == (
        Decimal("1234.56"),
        "refunded",
        2,
    )


def test_an_event_counts_once_per_key(member):
    event, created = event_record(
        member=member, event_type="daily_sign_in", key="signin:2026-11-11", occurred_at=AT
    )
    again, created_again = event_record(
        member=member, event_type="daily_sign_in", key="signin:2026-11-11", occurred_at=AT
    )
    assert created and not created_again and again == event
    with pytest.raises(ValidationError) as caught:
        event_record(member=member, event_type="teleport", key="", occurred_at=AT)
    assert set(caught.value.message_dict) == {"event_type", "key"}
    assert MemberEvent.objects.count() == 1


class Rollback(Exception):
    pass


def test_refunds_recorded_together_are_what_one_by_one_records(member, store):
    """The import's returns: the same refunds, purchase totals and refusals (each refusal
    writing nothing) as ``refund_record`` called once per return, in order."""
    first, _ = buy(member, store, "R1")
    second, _ = buy(member, store, "R2", paid_amount=Decimal("100.00"), gross_amount=Decimal("100.00"))
    refund_record(purchase=second, source="pos:S0000", refund_number="T0", amount=Decimal("10"),
                  occurred_at=AT, now=NOW)  # fmt: skip
    later = AT + datetime.timedelta(hours=1)
    facts = [
        RefundFact(first, "pos:S0000", "T1", Decimal("200.00"), later),
        RefundFact(first, "pos:S0000", "T2", Decimal("1034.56"), later),  # the rest: REFUNDED
        RefundFact(first, "pos:S0000", "T3", Decimal("0.01"), later),  # nothing left: too_much
        RefundFact(second, "pos:S0000", "T0", Decimal("10"), AT),  # recorded before: the same
        RefundFact(second, "pos:S0000", "T0", Decimal("11"), AT),  # recorded before, other amount
        RefundFact(second, "pos:S0000", "T4", Decimal("5"), AT - datetime.timedelta(days=1)),  # before it
        RefundFact(second, " pos:S0000 ", " T5 ", Decimal("0"), later),  # zero
        RefundFact(second, "pos:S0000", "T6", Decimal("90.00"), later),  # the rest
        RefundFact(second, "pos:S0000", "T6", Decimal("90.00"), later),  # again in the same batch
    ]

    def state() -> tuple:
        return (
            sorted(
                Refund.objects.values_list("refund_number", "purchase__order_number", "amount", "occurred_at")
            ),
            sorted(Purchase.objects.values_list("order_number", "refunded_amount", "status")),
        )

    def shown(outcome) -> tuple:
        if isinstance(outcome, RefundTooLarge):
            return ("refused", outcome.message, outcome.code)
        if isinstance(outcome, ValidationError):
            return (
                "refused",
                outcome.message_dict,
                [e.code for es in outcome.error_dict.values() for e in es],
            )
        refund, created = outcome
        return (refund.refund_number, refund.amount, created)

    one_by_one = []
    try:
        with transaction.atomic():
            for fact in facts:
                try:
                    one_by_one.append(
                        refund_record(
                            purchase=Purchase.objects.get(pk=fact.purchase.pk),
                            source=fact.source,
                            refund_number=fact.refund_number,
                            amount=fact.amount,
                            occurred_at=fact.occurred_at,
                            now=NOW,
                        )
                    )
                except (ValidationError, RefundTooLarge) as exc:
                    one_by_one.append(exc)
            expected = state()
            raise Rollback
    except Rollback:
        pass

    together = refunds_record(facts, now=NOW)

    assert [shown(o) for o in together] == [shown(o) for o in one_by_one]
    assert state() == expected
    assert [shown(o)[0] for o in together][:4] == ["T1", "T2", "refused", "T0"]
    assert expected[1] == [("R1", Decimal("1234.56"), "refunded"), ("R2", Decimal("100.00"), "refunded")]


def test_purchases_recorded_together_follow_the_one_purchase_rules(member, store):
    """An import's sales: each fact as ``purchase_record`` judges it (it is this batch of one);
    a refused fact writes nothing and the others go in."""
    buy(member, store, "B0")  # 1234.56 paid at AT, recorded before

    def fact(number: str, **kw) -> PurchaseFact:
        fields = {
            "member_id": member.pk, "source": "pos:S0000", "order_number": number, "channel": "store",
            "store_id": store.pk, "occurred_at": AT, "gross_amount": Decimal("100"),
            "paid_amount": Decimal("90"), **kw,
        }  # fmt: skip
        return PurchaseFact(**fields)

    outcomes = purchases_record(
        [
            fact("B1", lines=(Line(sku="SKU-1", amount=Decimal("90")),)),
            fact("B0", gross_amount=Decimal("1299.00"), paid_amount=Decimal("1234.56")),  # the same
            fact("B0"),  # recorded before with other amounts
            fact(" B1 "),  # earlier in this batch, the same
            fact("B1", store_id=None),  # earlier in this batch, another store
            fact("B2", paid_amount=Decimal("101")),  # paid above gross
            fact("B3", occurred_at=NOW + datetime.timedelta(hours=2)),  # in the future
        ],
        now=NOW,
    )

    first, again_recorded, _other, again_new, _moved, _paid, _future = outcomes
    assert first[1] is True and again_new == (first[0], False)
    assert again_recorded[0].order_number == "B0" and again_recorded[1] is False
    refused = {i: o.message_dict for i, o in enumerate(outcomes) if isinstance(o, ValidationError)}
    assert refused == {
        2: {"order_number": ["B0 was already recorded with a different gross_amount, paid_amount."]},
        4: {"order_number": ["B1 was already recorded with a different store."]},
        5: {"paid_amount": ["The paid amount cannot exceed the gross amount."]},
        6: {"occurred_at": ["2026-11-12 00:15 is in the future."]},
    }
    assert sorted(Purchase.objects.values_list("order_number", "paid_amount")) == [
        ("B0", Decimal("1234.56")),
        ("B1", Decimal("90.00")),
    ]
    assert list(PurchaseLine.objects.values_list("purchase__order_number", "sku")) == [("B1", "SKU-1")]


def test_events_recorded_together_follow_the_one_event_rules(member):
    event_record(member=member, event_type="daily_sign_in", key="s1", occurred_at=AT)
    outcomes = events_record(
        [
            EventFact(member.pk, "daily_sign_in", "s1", AT),  # recorded before: the same
            EventFact(member.pk, "daily_sign_in", "s1", AT + datetime.timedelta(minutes=1)),  # other time
            EventFact(member.pk, "daily_sign_in", " s2 ", AT),  # new
            EventFact(member.pk, "teleport", "t1", AT),  # unknown type
        ],
        now=NOW,
    )
    assert [o[1] if isinstance(o, tuple) else sorted(o.message_dict) for o in outcomes] == [
        False,
        ["key"],
        True,
        ["event_type"],
    ]
    assert sorted(MemberEvent.objects.values_list("key", flat=True)) == ["s1", "s2"]
