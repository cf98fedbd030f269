"""Enrolments per IP address (issue 21): a partner that knows the address a member's request came
from sends it with the enrolment; a velocity rule counting per address catches a farm enrolling
from one address, and nobody else. The address is checked (400 naming the field) and kept only
where a device would be."""

from __future__ import annotations

import datetime

import pytest

from campaigns.models import RiskRule
from campaigns.risk.detectors import find
from campaigns.risk.scan import day_span
from members.models import Member
from members.referrals.models import MemberIp
from tests.api import conftest as api_fixtures

pytestmark = pytest.mark.django_db

partner_a, partner_b = api_fixtures.partner_a, api_fixtures.partner_b
URL = "/api/v1/members/"
DAY = datetime.date(2026, 11, 20)


def enrol(client, mobile: str, ip: str, minute: int) -> Member:
    response = client.post(URL, {"mobile": mobile, "ip": ip})
    assert response.status_code == 201, response.json()
    member = Member.objects.get(member_number=response.json()["member_number"])
    # enrolled at 21:<minute> on DAY (the API stamps now)
    Member.objects.filter(pk=member.pk).update(
        created_at=day_span(DAY)[0] + datetime.timedelta(hours=21, minutes=minute)
    )
    return member


def test_a_farm_enrolling_from_one_address_is_caught_per_address(partner_a):
    """Threshold 3 an hour: four enrolments from 203.0.113.7 between 21:00 and 21:30 fire; three
    from 2001:db8::1 (IPv6) and one without an address do not."""
    farm = [enrol(partner_a, f"1701234000{n}", "203.0.113.7", 10 * n) for n in range(4)]
    others = [enrol(partner_a, f"1391234000{n}", "2001:db8::1", n) for n in range(3)]
    partner_a.post(URL, {"mobile": "13912349999"})
    rule = RiskRule.objects.create(
        name="同一IP一小时注册超过3人", kind="velocity", measure="enrolments", scope="ip", window="hour",
        threshold=3,
    )  # fmt: skip
    findings = find(rule, day_span(DAY))
    assert {f.member_id for f in findings} == {m.pk for m in farm}
    assert (findings[0].summary["value"], findings[0].summary["count"]) == ("203.0.113.7", 4)
    assert not {f.member_id for f in findings} & {m.pk for m in others}
    assert MemberIp.objects.count() == 7


def test_an_address_that_is_not_one_is_refused_on_its_field(partner_a):
    response = partner_a.post(URL, {"mobile": "13812340001", "ip": "999.1.1.1"})
    assert response.status_code == 400
    assert "ip" in response.json()["fields"]
    assert not Member.objects.exists()


def test_a_third_party_finding_a_member_it_sees_adds_no_address(partner_a, partner_b):
    """Only a member enrolled now, or one the brand's own systems saw, gets the address (as with
    devices): a third party cannot attach addresses to members."""
    number = partner_b.post(URL, {"mobile": "13812340002", "ip": "198.51.100.1"}).json()["member_number"]
    assert partner_b.post(URL, {"mobile": "13812340002", "ip": "198.51.100.2"}).status_code == 200
    partner_a.post(URL, {"mobile": "13812340002", "ip": "198.51.100.3"})  # the brand's app: kept
    kept = MemberIp.objects.filter(member__member_number=number).values_list("ip", flat=True)
    assert sorted(kept) == ["198.51.100.1", "198.51.100.3"]
