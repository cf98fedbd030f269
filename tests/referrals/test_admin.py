"""Referrals in the admin: the add form's code, the list with masking, the member page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from members.models import Member
from members.referrals.models import Referral
from members.referrals.services import referral_code_get, referral_link
from members.services import member_update
from tests.conftest import login
from tests.factories import MemberFactory
from tests.members.test_admin import ADD, add_form

pytestmark = pytest.mark.django_db
LIST = reverse("admin:referrals_referral_changelist")


@pytest.fixture(autouse=True)
def english(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


def test_an_operator_adds_a_member_with_a_referral_code(client, operator):
    referrer = MemberFactory(name="王老会员", mobile="13600000101")
    code = referral_code_get(referrer)
    login(client, operator)
    member_update(member=referrer, mobile="13600000109")  # the old phone is free, still theirs
    refused = client.post(ADD, add_form(name="自己", mobile="13600000101", referral_code=code))
    assert refused.status_code == 200
    assert list(refused.context["adminform"].form.errors) == ["referral_code"]
    unknown = client.post(ADD, add_form(name="李新", mobile="13600000102", referral_code="ZZZZ2222"))
    assert "referral_code" in unknown.context["adminform"].form.errors
    assert Member.objects.count() == 1 and not Referral.objects.exists()
    added = client.post(ADD, add_form(name="李新", mobile="13600000102", referral_code=code.lower()))
    assert added.status_code == 302, added.context["adminform"].form.errors
    referral = Referral.objects.get()
    assert (referral.referrer, referral.referee.name, referral.actor) == (referrer, "李新", operator)


def test_the_list_shows_personal_data_only_to_roles_that_may_see_it(client, operator, approver):
    referrer = MemberFactory(name="王老会员", mobile="13600000201")
    referee = MemberFactory(name="李新朋友", mobile="13600000202")
    referral_link(referee, referral_code_get(referrer), device_id="device-xyz-123")
    login(client, operator)
    full = client.get(LIST).content.decode()
    assert "王老会员" in full and "136 0000 0202" in full and "device-xyz-123" in full
    login(client, approver)
    masked = client.get(LIST).content.decode()
    assert "王老会员" not in masked and "0000 0202" not in masked and "device-xyz-123" not in masked
    assert referrer.member_number in masked
    found = client.get(LIST, {"q": referee.member_number}).content.decode()
    assert referee.member_number in found


def test_the_member_page_shows_the_referrer_and_the_referees_count(client, operator):
    referrer = MemberFactory()
    code = referral_code_get(referrer)
    for _ in range(3):
        referral_link(MemberFactory(), code)
    login(client, operator)
    page = client.get(reverse("admin:members_member_change", args=[referrer.pk])).content.decode()
    assert "Members they referred: 3" in page
    referee = Referral.objects.first().referee
    theirs = client.get(reverse("admin:members_member_change", args=[referee.pk])).content.decode()
    assert referrer.member_number in theirs and code in theirs
