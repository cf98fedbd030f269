"""A partner that still holds the absorbed member's number is told where the member went."""

from __future__ import annotations

import pytest

from members.models import Member
from members.partners.models import PartnerMember
from tests.factories import MemberFactory
from tests.oneid.conftest import merged

pytestmark = pytest.mark.django_db
URL = "/api/v1/members/"


@pytest.fixture
def pair(operator):
    survivor = MemberFactory(name="张丽")
    absorbed = MemberFactory(name="张丽")
    return survivor, absorbed


def test_the_absorbed_number_answers_member_merged_with_the_survivor(partner_a, pair, operator):
    survivor, absorbed = pair
    merged(survivor, absorbed, by=operator)

    for path in (f"{URL}{absorbed.member_number}/", f"{URL}{absorbed.member_number}/balances/"):
        response = partner_a.get(path)
        body = response.json()
        assert (response.status_code, body["code"]) == (422, "member_merged"), path
        assert body["merged_into"] == survivor.member_number
        assert survivor.member_number in body["fields"]["member_number"][0]
    purchase = partner_a.post(
        "/api/v1/purchases/",
        {
            "member_number": absorbed.member_number,
            "order_number": "M-1",
            "channel": "store",
            "store": "A001",
            "occurred_at": "2026-11-11T12:00:00+08:00",
            "paid_amount": "100",
            "gross_amount": "100",
        },
    )
    assert (purchase.status_code, purchase.json()["merged_into"]) == (422, survivor.member_number)
    assert partner_a.get(f"{URL}{survivor.member_number}/").status_code == 200


def test_a_third_party_partner_follows_the_pointer_only_to_a_member_it_may_see(partner_b, pair, operator):
    survivor, absorbed = pair
    PartnerMember.objects.create(partner=partner_b.partner, member=absorbed)
    merged(survivor, absorbed, by=operator)

    # the link moved with the merge: the partner served this person and may follow
    response = partner_b.get(f"{URL}{absorbed.member_number}/")
    assert (response.status_code, response.json()["merged_into"]) == (422, survivor.member_number)

    other_survivor, other_absorbed = MemberFactory(), MemberFactory()
    merged(other_survivor, other_absorbed, by=operator)
    # never served: a 404 as for any number, which says nothing about the merge
    assert partner_b.get(f"{URL}{other_absorbed.member_number}/").status_code == 404
    assert Member.objects.get(pk=other_absorbed.pk).merged_into == other_survivor
