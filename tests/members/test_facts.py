"""Purchases, refunds and behaviour events are stored once, and bad input is refused whole."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from members.facts import Line, event_record, purchase_record, refund_record
from members.models import MemberEvent, Purchase, PurchaseLine, Refund

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
    with pytest.raises(ValidationError) as caught:
        refund_record(
            purchase=purchase,
            source="pos:S0000",
            refund_number="T2",
            amount=Decimal("1000.01"),
            occurred_at=later,
        )
    assert caught.value.message_dict["amount"] == ["Only 1000.00 CNY of this purchase is left to refund."]
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
