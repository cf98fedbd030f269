"""Enrolling through the partner API with a referral code, and reading a member's own code."""

from __future__ import annotations

import pytest

from members.models import Member
from members.referrals.models import MemberDevice, Referral
from members.referrals.services import member_device_record, referral_code_get
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_the_app_shows_the_members_code_and_a_friend_enrols_with_it(partner_a):
    referrer = partner_a.post("/api/v1/members/", {"mobile": "13812340001", "device_id": "phone-1"}).json()
    mine = partner_a.get(f"/api/v1/members/{referrer['member_number']}/referral/")
    assert mine.status_code == 200
    code = mine.json()["code"]
    assert mine.json() == {"code": code, "referred": False, "referees": 0}
    friend = partner_a.post(
        "/api/v1/members/", {"mobile": "13812340002", "referral_code": code, "device_id": "phone-2"}
    )
    assert friend.status_code == 201, friend.json()
    referral = Referral.objects.get()
    assert referral.referrer.member_number == referrer["member_number"]
    assert referral.referee.member_number == friend.json()["member_number"]
    assert (referral.device_id, referral.partner_id, referral.code) == ("phone-2", partner_a.partner.pk, code)
    again = partner_a.get(f"/api/v1/members/{referrer['member_number']}/referral/").json()
    assert (again["code"], again["referees"]) == (code, 1)
    assert partner_a.get(f"/api/v1/members/{friend.json()['member_number']}/referral/").json()["referred"]


def test_a_refused_code_enrols_nobody_and_says_why_to_the_brand(partner_a):
    referrer = MemberFactory()
    member_device_record(referrer, "phone-1")
    code = referral_code_get(referrer)
    before = Member.objects.count()
    unknown = partner_a.post("/api/v1/members/", {"mobile": "13812340003", "referral_code": "ZZZZ2222"})
    assert (unknown.status_code, unknown.json()["code"]) == (422, "referral_unknown")
    assert unknown.json()["fields"] == {"referral_code": [unknown.json()["message"]]}
    same_device = partner_a.post(
        "/api/v1/members/", {"mobile": "13812340003", "referral_code": code, "device_id": "phone-1"}
    )
    assert (same_device.status_code, same_device.json()["code"]) == (422, "referral_self")
    assert Member.objects.count() == before and not Referral.objects.exists()


def test_a_third_party_gets_one_answer_for_every_refusal(partner_b):
    referrer = MemberFactory(mobile="13812340009")
    code = referral_code_get(referrer)
    answers = [
        partner_b.post("/api/v1/members/", {"identities": [{"kind": "card", "value": "13812340009"}],
                                            "referral_code": code}),
        partner_b.post("/api/v1/members/", {"mobile": "13812340010", "referral_code": "ZZZZ2222"}),
    ]  # fmt: skip
    assert [(a.status_code, a.json()["code"]) for a in answers] == [(422, "referral_code_invalid")] * 2
    assert answers[0].content == answers[1].content
    assert referrer.member_number not in answers[0].content.decode()
    # with a good code B enrols the friend, and learns nothing of the referrer
    friend = partner_b.post("/api/v1/members/", {"mobile": "13812340011", "referral_code": code})
    assert friend.status_code == 201
    assert referrer.member_number not in friend.content.decode()
    assert Referral.objects.get().referrer == referrer


def test_a_member_found_is_not_linked(partner_a):
    member = partner_a.post("/api/v1/members/", {"mobile": "13812340004"}).json()
    code = referral_code_get(MemberFactory())
    found = partner_a.post("/api/v1/members/", {"mobile": "13812340004", "referral_code": code})
    assert found.status_code == 200 and found.json()["member_number"] == member["member_number"]
    assert not Referral.objects.exists()


def test_the_device_of_an_enrolment_is_remembered(partner_a):
    partner_a.post("/api/v1/members/", {"mobile": "13812340005", "device_id": "ipad-7"})
    assert MemberDevice.objects.get().device_id == "ipad-7"
