"""Points as cash end to end, as a POS does it through the API: quote, hold, the customer pays,
the purchase captures the hold, a partial refund and the rest; balances and lots checked against
numbers worked out by hand. Also the retries every POST must survive."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from members.models import Member
from members.partners.models import PartnerKind
from members.partners.services import member_link
from points.cash.models import Hold, HoldRefund
from points.models import Entry
from points.selectors import ledger_problems
from tests.api.conftest import PartnerClient, make_partner
from tests.cash.conftest import LINES, account, earn, open_lots
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pos(db) -> PartnerClient:
    partner, key = make_partner("pos-a", "A001", kind=PartnerKind.FIRST_PARTY)
    return PartnerClient(key, partner)


@pytest.fixture
def customer(rule, pos) -> tuple[Member, datetime.datetime, datetime.datetime]:
    """3,000 积分 earned 300 days ago (expiring in 65 days) and 5,000 earned 10 days ago."""
    member = MemberFactory(name="王芳")
    member_link(partner=pos.partner, member=member)
    now = timezone.now()
    old, new = now - datetime.timedelta(days=300), now - datetime.timedelta(days=10)
    earn(member, 3000, old)
    earn(member, 5000, new)
    lots = open_lots(member)
    assert list(lots.values()) == [3000, 5000]
    soon, later = sorted(lots)  # each lot's expiry: 12 months after it was earned
    return member, soon, later


def lines() -> list[dict]:
    return [{"sku": sku, "category": category, "amount": amount} for sku, category, amount in LINES]


def the_basket(**fields) -> dict:
    return {"channel": "store", "store": "A001", "amount": "188.00", "lines": lines(), **fields}


def sale(member: Member, **fields) -> dict:
    return {"member_number": member.member_number, **the_basket(**fields)}


#: when the receipts of a test were rung up (a purchase sent again repeats its time)
RUNG_UP = (timezone.now() - datetime.timedelta(minutes=1)).replace(microsecond=0)


def receipt(member: Member, hold_id: int, **fields) -> dict:
    at = RUNG_UP.isoformat()
    return {
        "member_number": member.member_number, "order_number": "A-88", "channel": "store", "store": "A001",
        "occurred_at": at, "gross_amount": "188.00", "paid_amount": "188.00", "lines": lines(),
        "points_hold": hold_id, **fields,
    }  # fmt: skip


def available(member: Member) -> int:
    return account(member).available


def test_quote_hold_pay_capture_and_refund_as_a_pos_does(pos, customer):
    member, soon, later = customer
    number = member.member_number

    # 1. quote: 50 CNY of 烟酒 excluded, half of the other 138 CNY is 69 CNY = 6,900 积分 (the
    #    member's 8,000 would pay 80)
    quote = pos.post(f"/api/v1/members/{number}/points/quote/", the_basket(), idempotency_key=None)
    assert quote.status_code == 200, quote.json()
    body = quote.json()
    assert (body["available"], body["max_points"], body["max_value"]) == (8000, 6900, "69.00")
    assert (body["step_points"], body["step_value"], body["eligible_amount"]) == (100, "1.00", "138.00")
    assert [r["code"] for r in body["reasons"]] == ["excluded_lines", "max_share"]
    assert body["hold_minutes"] == 15

    # 2. hold 5,000 (50 CNY): the 3,000 expiring first, then 2,000 of the newer lot
    held = pos.post("/api/v1/points/holds/", sale(member, points=5000, reference="T1-0001"))
    assert held.status_code == 201, held.json()
    hold = held.json()["hold"]
    assert (hold["points"], hold["value"], hold["status"], hold["store"]) == (5000, "50.00", "active", "A001")
    expires = datetime.datetime.fromisoformat(hold["expires_at"])
    assert datetime.timedelta(minutes=14) < expires - timezone.now() <= datetime.timedelta(minutes=15)
    points = next(b for b in held.json()["balances"] if b["point_type"] == "points")
    assert points["available"] == 3000
    assert open_lots(member) == {later: 3000}
    # held points are spendable nowhere else: a second till is quoted what is left
    again = pos.post(f"/api/v1/members/{number}/points/quote/", the_basket(), idempotency_key=None).json()
    assert (again["available"], again["max_points"]) == (3000, 3000)
    assert [r["code"] for r in again["reasons"]] == ["excluded_lines", "balance"]
    too_many = pos.post("/api/v1/points/holds/", sale(member, points=3500))
    assert (too_many.status_code, too_many.json()["code"]) == (422, "insufficient_points")
    assert too_many.json()["fields"] == {"points": [too_many.json()["message"]]}

    # 3. the customer pays the other 138 CNY; the purchase captures the hold, points_amount is
    #    the hold's 50 CNY, and it earns on 188 - 50 = 138 CNY (pending for the return window)
    paid = pos.post("/api/v1/purchases/", receipt(member, hold["id"]))
    assert paid.status_code == 201, paid.json()
    assert paid.json()["award"]["totals"] == {"points": 138, "growth": 138}
    assert Hold.objects.get(pk=hold["id"]).purchase.points_amount == 50
    read = pos.get(f"/api/v1/points/holds/{hold['id']}/").json()["hold"]
    assert (read["status"], read["order_number"], read["points_given_back"]) == ("captured", "A-88", 0)
    assert read["captured_at"] is not None
    after_sale = account(member)
    assert (after_sale.available, after_sale.pending, after_sale.spent) == (3000, 138, 5000)

    # 4. half the receipt is returned (94 of 188 CNY): half the held points come back,
    #    5,000 x 94 / 188 = 2,500, the latest-expiring first (2,000 of the newer lot's date,
    #    then 500 of the older's); the refund takes back half the earned 138 (69 pending)
    at = (timezone.now() - datetime.timedelta(seconds=30)).isoformat()
    refund = pos.post(
        "/api/v1/purchases/A-88/refunds/", {"refund_number": "R-1", "amount": "94.00", "occurred_at": at}
    )
    assert refund.status_code == 201, refund.json()
    assert refund.json()["award"]["totals"] == {"points": -69, "growth": -69}
    assert open_lots(member) == {soon: 500, later: 5000}
    state = account(member)
    assert (state.available, state.pending) == (5500, 69)
    back = HoldRefund.objects.get(refund__refund_number="R-1")
    assert (back.points, back.value) == (2500, 50 / 2)
    assert pos.get(f"/api/v1/points/holds/{hold['id']}/").json()["hold"]["points_given_back"] == 2500

    # 5. the rest is returned: the remainder of the hold, 2,500 of the older lot's date
    rest = pos.post(
        "/api/v1/purchases/A-88/refunds/", {"refund_number": "R-2", "amount": "94.00", "occurred_at": at}
    )
    assert rest.status_code == 201, rest.json()
    assert open_lots(member) == {soon: 3000, later: 5000}
    state = account(member)
    assert (state.available, state.pending, state.spent) == (8000, 0, 5000)  # spent stays gross
    assert sum(HoldRefund.objects.values_list("points", flat=True)) == 5000
    kinds = list(
        Entry.objects.filter(source_ref=f"hold:{hold['id']}").order_by("id").values_list("kind", "amount")
    )
    assert kinds == [("spend", -5000), ("refund", 2500), ("refund", 2500)]
    assert ledger_problems() == {}


def test_every_post_is_safe_to_retry(pos, customer):
    member, _soon, _later = customer
    first = pos.post("/api/v1/points/holds/", sale(member, points=2000), idempotency_key="hold-1")
    replay = pos.post("/api/v1/points/holds/", sale(member, points=2000), idempotency_key="hold-1")
    assert first.status_code == replay.status_code == 201
    assert replay.content == first.content and replay["Idempotent-Replayed"] == "true"
    other = pos.post("/api/v1/points/holds/", sale(member, points=3000), idempotency_key="hold-1")
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_conflict")
    assert Hold.objects.count() == 1 and available(member) == 6000
    hold_id = first.json()["hold"]["id"]

    # the purchase sent twice (a new key each time, as after a lost answer): recorded once,
    # the hold captured by it once, the second answer 200
    paid = pos.post("/api/v1/purchases/", receipt(member, hold_id, order_number="A-89"))
    again = pos.post("/api/v1/purchases/", receipt(member, hold_id, order_number="A-89"))
    assert (paid.status_code, again.status_code) == (201, 200), again.json()
    assert Hold.objects.get(pk=hold_id).status == Hold.Status.CAPTURED
    # the captured hold cannot pay another order, nor be released
    other_order = pos.post("/api/v1/purchases/", receipt(member, hold_id, order_number="A-90"))
    assert (other_order.status_code, other_order.json()["code"]) == (422, "hold_closed")
    assert other_order.json()["fields"] == {"points_hold": [other_order.json()["message"]]}
    release = pos.post(f"/api/v1/points/holds/{hold_id}/release/")
    assert (release.status_code, release.json()["code"]) == (422, "hold_closed")

    # a release retried: the points come back once
    second = pos.post("/api/v1/points/holds/", sale(member, points=1000)).json()["hold"]["id"]
    assert available(member) == 5000
    released = pos.post(f"/api/v1/points/holds/{second}/release/", idempotency_key="release-1")
    assert released.status_code == 200, released.json()
    assert released.json()["hold"]["status"] == "released"
    assert released.json()["hold"]["release_reason"] == "till"
    assert pos.post(f"/api/v1/points/holds/{second}/release/", idempotency_key="release-1").content == (
        released.content
    )
    assert pos.post(f"/api/v1/points/holds/{second}/release/").json()["hold"]["status"] == "released"
    assert available(member) == 6000
    closed = pos.post("/api/v1/purchases/", receipt(member, second, order_number="A-91"))
    assert (closed.status_code, closed.json()["code"]) == (422, "hold_closed")
    assert ledger_problems() == {}
