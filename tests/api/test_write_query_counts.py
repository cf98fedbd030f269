"""What one write through the API costs in queries, pinned: a new query on a hot write path (a
lookup per line, a lazy relation in the answer) fails here, not in production's latency.

Each test first sends one write of the same kind, then pins the second: the steady state of a
member who already has accounts, with the rule book cached as in production and production's
COPY threshold (tests elsewhere lower it). Savepoints count: each ``atomic`` block costs two.
"""

from __future__ import annotations

import pytest

import campaigns.selectors
from benefits.coupons import coupon_issue
from benefits.models import Coupon
from campaigns.models import BehaviourRule
from config.common import bulk
from members.purchases.models import EventType
from points.models import PointType
from tests.api.test_purchases import EVENTS, URL, WHEN, body, served_by
from tests.api.test_rewards_coupons import member_of
from tests.benefits import conftest as benefits_fixtures

pytestmark = pytest.mark.django_db

free_shipping = benefits_fixtures.free_shipping
twenty_off = benefits_fixtures.twenty_off
voucher = benefits_fixtures.voucher

#: Read at import, before tests/conftest.py's fixture lowers it for every test.
PRODUCTION_SMALL = bulk.SMALL


@pytest.fixture(autouse=True)
def as_in_production(settings, monkeypatch):
    settings.RULE_BOOK_CACHE_SECONDS = 60
    monkeypatch.setattr(campaigns.selectors, "_cached", None)  # this test's rules, not a book of before
    monkeypatch.setattr(bulk, "SMALL", PRODUCTION_SMALL)


def posted(client, path: str, data: dict, status: int) -> dict:
    response = client.post(path, data)
    assert response.status_code == status, response.json()
    return response.json()


def test_a_purchase(partner_a, django_assert_num_queries):
    member = served_by(partner_a)
    posted(partner_a, URL, body(member, order_number="W-0"), 201)
    lines = [
        {"sku": "A1", "name": "拿铁", "category": "饮品", "quantity": "2", "amount": "50.00"},
        {"sku": "A2", "name": "蛋糕", "category": "甜品", "quantity": "1", "amount": "50.00"},
    ]
    # 13 savepoints; key, claim, answer stored: 3; record (store, member, order?, purchase, lines): 5;
    # earn (award?, member lock, award? again, tier, award, lines): 6; post (accounts lock, keys,
    # entries, lots, balances): 5; tier (status lock, growth): 2; answer (purchase, lines, accounts,
    # next expiries, point types, tier): 6
    with django_assert_num_queries(42):  # +2: is anyone subscribed to points.changed, purchase.awarded
        posted(partner_a, URL, body(member, order_number="W-1", lines=lines), 201)


def test_a_refund(partner_a, django_assert_num_queries):
    member = served_by(partner_a)
    for number in ("W-0", "W-1"):
        posted(partner_a, URL, body(member, order_number=number), 201)
    refund = {"amount": "40.00", "occurred_at": WHEN}
    posted(partner_a, f"{URL}W-0/refunds/", {**refund, "refund_number": "R-0"}, 201)
    # 6 savepoints and 6 releases; key, claim, answer stored: 3; record (purchase, its lock,
    # refund?, refund, purchase's refunded amount): 5; earn (awards? x2, member lock, award, refunded
    # sum, lines x2, award, lines): 9; take back, both point types at once (accounts lock, keys,
    # lots, reversed sums, entries, lots, allocations, balances): 8; answer (as a purchase's): 5
    with django_assert_num_queries(43):  # +1: is anyone subscribed to points.changed
        posted(partner_a, f"{URL}W-1/refunds/", {**refund, "refund_number": "R-1"}, 201)


def test_an_event(partner_a, django_assert_num_queries):
    sign_in = EventType.objects.get(code="daily_sign_in")
    points = PointType.objects.get(code="points")
    BehaviourRule.objects.create(event_type=sign_in, point_type=points, amount=5, cap=10, cap_period="ever")
    member = served_by(partner_a)
    event = {"member_number": member.member_number, "event_type": "daily_sign_in", "occurred_at": WHEN}
    posted(partner_a, EVENTS, {**event, "key": "signin:0"}, 201)
    # 11 savepoints; key, claim, answer stored: 3; record (member, event type, event?, event): 4;
    # earn (award?, member lock, award? again, tier, cap counts x2, award, lines): 8; post (accounts
    # lock, keys, entries, lots, balances): 5; answer (lines, accounts, next expiries, point types): 4
    with django_assert_num_queries(36):  # +1: is anyone subscribed to points.changed
        answer = posted(partner_a, EVENTS, {**event, "key": "signin:1"}, 201)
    assert answer["award"]["totals"] == {"points": 5, "growth": 0}


def test_a_reward_redemption(partner_a, voucher, django_assert_num_queries):
    member = member_of(partner_a, 10_000)
    redeem = f"/api/v1/rewards/{voucher.pk}/redeem/"
    posted(partner_a, redeem, {"member_number": member.member_number}, 201)
    # 9 savepoints; key, claim, answer stored: 3; member, reward: 2; reward lock, redemption by key,
    # point type: 3; the member's household (may the spend use its pool?): 1; spend (account lock,
    # key, the member's status under the lock, lots, entry, lots, allocations, balance): 8; coupon,
    # redemption, its history row: 3; answer (redemption, accounts, next expiries, point types): 4
    with django_assert_num_queries(35):  # +2: subscribers to points.changed, coupon.issued
        posted(partner_a, redeem, {"member_number": member.member_number}, 201)


def test_a_coupon_redeemed_at_the_till(partner_a, free_shipping, django_assert_num_queries):
    member = member_of(partner_a)
    first, second = (coupon_issue(member, benefit=free_shipping, origin=Coupon.Origin.MANUAL) for _ in "12")
    posted(partner_a, "/api/v1/coupons/redeem/", {"code": first.code, "store": "A001"}, 200)
    # 7 savepoints; key, claim, answer stored: 3; store, coupon, the partner's member and store
    # (2 EXISTS), coupon, the benefit's stores, the conditional UPDATE that redeems it, the
    # redemption's row: 8
    with django_assert_num_queries(19):  # +1: is anyone subscribed to coupon.redeemed
        posted(partner_a, "/api/v1/coupons/redeem/", {"code": second.code, "store": "A001"}, 200)
