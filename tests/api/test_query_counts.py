"""List endpoints cost the same number of queries for 1 row as for a full page (no N+1)."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from benefits.coupons import coupon_issue
from benefits.models import Coupon
from benefits.rewards import reward_redeem
from members.partners.services import member_link
from tests.benefits import conftest as benefits_fixtures
from tests.benefits.conftest import give_points
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

twenty_off = benefits_fixtures.twenty_off
voucher = benefits_fixtures.voucher


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(captured.captured_queries)


def grow(client, voucher, count: int):
    """``count`` more members of the partner, each with an identity, a coupon and a redemption."""
    for _ in range(count):
        member = MemberFactory()
        member_link(partner=client.partner, member=member)
        give_points(member, 5000, at=timezone.now() - datetime.timedelta(days=1))
        actor = client.partner.user
        reward_redeem(member=member, reward=voucher, idempotency_key=f"q-{member.pk}", actor=actor)
        coupon_issue(member, benefit=voucher.benefit, origin=Coupon.Origin.REWARD)
    return member


@pytest.mark.parametrize(
    ("url", "pinned"),
    [
        ("/api/v1/members/", 3),  # key, page, identities
        ("/api/v1/redemptions/", 2),  # key, page (member, reward, coupon joined)
        ("/api/v1/rewards/", 2),
        ("/api/v1/members/{n}/coupons/", 3),  # key, member, page
    ],
)
def test_list_pages_cost_a_fixed_number_of_queries(partner_a, voucher, url, pinned):
    member = grow(partner_a, voucher, 1)
    one = queries(partner_a, url.format(n=member.member_number))
    member = grow(partner_a, voucher, 12)
    coupon_issue(member, benefit=voucher.benefit, origin=Coupon.Origin.REWARD)
    many = queries(partner_a, url.format(n=member.member_number))
    assert one == many == pinned
