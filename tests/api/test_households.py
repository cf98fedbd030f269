"""A member's household through the API: the rules and what the pool lets the member spend, never
the other members; a redemption draws on the pool."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from members.partners.services import member_link
from points.households.services import household_create, household_join
from points.selectors import ledger_problems
from tests.api.conftest import PartnerClient
from tests.benefits import conftest as benefits_fixtures
from tests.benefits.conftest import give_points
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

twenty_off = benefits_fixtures.twenty_off
voucher = benefits_fixtures.voucher  # a 2,000-point coupon reward


def member_of(client: PartnerClient, points: int, name: str):
    member = MemberFactory(name=name)
    member_link(partner=client.partner, member=member)
    give_points(member, points, at=timezone.now() - datetime.timedelta(days=1))
    return member


def test_a_members_household_and_a_pooled_redemption(partner_a, voucher):
    """The head (500 of his own, cap 2,000 a month) and a member with 3,000: the head may spend
    the pool; buying the 2,000-point voucher takes his 500 and draws 1,500: 500 of the cap left."""
    head, mother = member_of(partner_a, 500, "周父"), member_of(partner_a, 3000, "周母")
    home = household_create(name="周家", head=head, monthly_cap=2000)
    household_join(household=home, member=mother)
    url = f"/api/v1/members/{head.member_number}/household/"
    before = partner_a.get(url).json()
    assert before == {
        "member_number": head.member_number,
        "household": {
            "name": "周家", "role": "head", "pool_spenders": "head", "monthly_cap": 2000, "on_leave": "keep",
            "may_spend_pool": True, "pool_available": 3000, "drawn_this_month": 0, "cap_left": 2000,
        },
    }  # fmt: skip
    assert mother.member_number not in str(before)  # the other members are not named

    redeemed = partner_a.post(f"/api/v1/rewards/{voucher.pk}/redeem/", {"member_number": head.member_number})
    assert redeemed.status_code == 201, redeemed.json()
    after = partner_a.get(url).json()["household"]
    assert (after["pool_available"], after["drawn_this_month"], after["cap_left"]) == (1500, 1500, 500)
    # she may not spend the pool (the head only): nothing of his counts as hers
    hers = partner_a.get(f"/api/v1/members/{mother.member_number}/household/").json()["household"]
    assert (hers["role"], hers["may_spend_pool"], hers["pool_available"]) == ("member", False, 0)
    # a second voucher: 2,000 wanted from the pool, 500 of the cap left
    refused = partner_a.post(f"/api/v1/rewards/{voucher.pk}/redeem/", {"member_number": head.member_number})
    assert refused.status_code == 422 and refused.json()["code"] == "pool_cap_reached"
    assert ledger_problems() == {}


def test_a_member_in_no_household(partner_a):
    loner = member_of(partner_a, 10, "吴某")
    answer = partner_a.get(f"/api/v1/members/{loner.member_number}/household/").json()
    assert answer == {"member_number": loner.member_number, "household": None}
