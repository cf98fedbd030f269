"""A receipt's amounts must add up (issue 15, section 4), and an event key is one event: sent
again with another time or channel it is a 409, as docs/api.md promises."""

from __future__ import annotations

import pytest

from members.partners.services import member_link
from members.purchases.models import MemberEvent, Purchase
from tests.api.test_purchases import WHEN, ago, body
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/purchases/"
PREVIEW = "/api/v1/preview/"
EVENTS = "/api/v1/events/"


@pytest.fixture
def member(partner_a):
    member = MemberFactory()
    member_link(partner=partner_a.partner, member=member)
    return member


def refused(response) -> set[str]:
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    return set(response.json()["fields"])


def preview(member, **fields) -> dict:
    return {"member_number": member.member_number, "channel": "store", "paid_amount": "100.00", **fields}


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"shipping_amount": "100.01"}, {"shipping_amount"}),
        ({"gift_card_amount": "60.00", "points_amount": "40.01"}, {"gift_card_amount", "points_amount"}),
        ({"gift_card_amount": "100.01"}, {"gift_card_amount"}),
        ({"points_amount": "100.01"}, {"points_amount"}),
        ({"lines": [{"sku": "A", "amount": "60.00"}, {"sku": "B", "amount": "40.01"}]}, {"lines"}),
    ],
)
def test_parts_above_the_paid_amount_are_refused_naming_the_field(partner_a, member, fields, named):
    assert refused(partner_a.post(URL, body(member, **fields))) == named
    assert refused(partner_a.post(PREVIEW, preview(member, **fields))) == named
    assert not Purchase.objects.exists()


def test_parts_up_to_the_paid_amount_and_incomplete_lines_are_accepted(partner_a, member):
    """Paid 100 = goods 90 + shipping 10, paid with a 60 gift card and 40 in points: every bound
    reached at once. One line of 30 lists less than was paid: tolerated."""
    full = body(
        member,
        paid_amount="100.00",
        shipping_amount="10.00",
        gift_card_amount="60.00",
        points_amount="40.00",
        lines=[{"sku": "A", "amount": "30.00"}],
    )
    assert partner_a.post(URL, full).status_code == 201
    exact = body(
        member, order_number="A-2", lines=[{"sku": "A", "amount": "60"}, {"sku": "B", "amount": "40"}]
    )
    assert partner_a.post(URL, exact).status_code == 201
    assert partner_a.post(PREVIEW, preview(member, shipping_amount="100.00")).status_code == 200


def test_times_need_their_offset_and_amounts_are_strings(partner_a, member):
    """What the schema says: a naive time is refused rather than guessed; money is not a float."""
    assert refused(partner_a.post(URL, body(member, occurred_at="2026-11-01T10:00:00"))) == {"occurred_at"}
    for amount in (100, "1e2", "+100", "-0", "100.001", "0100"):
        assert refused(partner_a.post(URL, body(member, paid_amount=amount))) == {"paid_amount"}, amount
    assert not Purchase.objects.exists()


def test_the_same_event_key_with_another_time_or_channel_is_a_409(partner_a, member):
    event = {
        "member_number": member.member_number,
        "event_type": "daily_sign_in",
        "key": "sign-1",
        "occurred_at": WHEN,
        "channel": "store",
    }
    first = partner_a.post(EVENTS, event)
    assert first.status_code == 201
    assert partner_a.post(EVENTS, event).status_code == 200  # the same event again: recorded once
    for changed in ({"occurred_at": ago(hours=1).isoformat()}, {"channel": "wechat_mp"}):
        conflict = partner_a.post(EVENTS, {**event, **changed})
        assert conflict.status_code == 409, changed
        assert conflict.json()["code"] == "conflict"
        assert set(conflict.json()["fields"]) == {"key"}
        assert next(iter(changed)) in conflict.json()["fields"]["key"][0]  # says what differs
    assert MemberEvent.objects.filter(event_type__code="daily_sign_in").count() == 1


def test_a_registration_reported_again_is_the_first_report(partner_a, member):
    """A registration is keyed by its member, not by the caller's key: the first report's time
    stands, and a later one with another time is that same registration (200), not a 409."""
    joined = {
        "member_number": member.member_number,
        "event_type": "registration",
        "key": "r-1",
        "occurred_at": WHEN,
    }
    first = partner_a.post(EVENTS, joined)
    assert first.status_code == 201
    later = partner_a.post(EVENTS, {**joined, "key": "r-2", "occurred_at": ago(hours=1).isoformat()})
    assert later.status_code == 200
    assert later.json()["event"]["occurred_at"] == first.json()["event"]["occurred_at"]
    assert MemberEvent.objects.filter(event_type__code="registration").count() == 1
