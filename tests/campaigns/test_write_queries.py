"""The queries of one fact's earning, pinned: the single path is the API's hot path, and a change
that adds a query per purchase, refund or event shows here first.

A member who bought before (points accounts and tier row exist), the migrations' rules (1 point
and 1 growth per CNY), no campaign: what a till sends all day.
"""

from __future__ import annotations

import datetime

import pytest

from campaigns.earning.pipeline import event_process, purchase_process, refund_process
from campaigns.selectors import rule_book
from members.purchases.services import event_record
from tests.campaigns.conftest import NOW, buy, refund
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
LATER = NOW + datetime.timedelta(days=2)


@pytest.fixture
def regular():
    member = MemberFactory()
    purchase_process(buy(member, "10.00"), at=NOW)
    return member


def test_a_purchase_earns_in_a_fixed_number_of_queries(regular, django_assert_num_queries):
    purchase = buy(regular, "99.00")
    book = rule_book()
    with django_assert_num_queries(25):  # +2: subscribers to points.changed, purchase.awarded
        purchase_process(purchase, at=NOW, book=book)


def test_a_refund_takes_back_in_a_fixed_number_of_queries(regular, django_assert_num_queries):
    purchase = buy(regular, "100.00")
    purchase_process(purchase, at=NOW)
    returned = refund(purchase, "40.00")
    book = rule_book()
    # 32 before refund_process became a wave of one (points_reverse once per point type then)
    with django_assert_num_queries(30):  # +1: is anyone subscribed to points.changed
        refund_process(returned, at=LATER, book=book)


def test_an_event_earns_in_a_fixed_number_of_queries(regular, django_assert_num_queries):
    event, _ = event_record(member=regular, event_type="daily_sign_in", key="s1", occurred_at=NOW, now=NOW)
    book = rule_book()
    with django_assert_num_queries(7):  # no behaviour rule: nothing to post
        event_process(event, at=NOW, book=book)
