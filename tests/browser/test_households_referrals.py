"""An operator founds a household and a member enrols with a friend's referral code, in a real
browser, in Chinese; the pages they land on are looked at (screenshots).

Screenshots go to $BROWSER_SCREENSHOTS (default .screenshots/ in the checkout)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from members.models import Member
from members.referrals.models import Referral
from members.referrals.services import referral_code_get
from points.households.models import Household
from tests.browser.test_journeys import log_in
from tests.browser.test_oneid import SHOTS
from tests.factories import MemberFactory

pytestmark = pytest.mark.browser


def test_operator_founds_a_household_and_adds_a_member(page, live_server, operator):
    from playwright.sync_api import expect

    head, mother = MemberFactory(name="王大明"), MemberFactory(name="王母")
    SHOTS.mkdir(exist_ok=True)
    log_in(page, live_server, operator)
    page.goto(reverse("admin:households_household_add"))
    page.locator("#id_name").fill("王家")
    page.locator("#id_head_number").fill(head.member_number)
    page.screenshot(path=str(SHOTS / "household-1-found.png"), full_page=True)
    page.locator("#id_name").press("Enter")
    household = Household.objects.get()
    page.goto(reverse("admin:households_household_change", args=[household.pk]))
    page.locator("#id_member_number").fill(mother.member_number)
    page.locator("#id_member_number").press("Enter")
    page.wait_for_url("**/household/")  # saved: back on the list
    page.goto(reverse("admin:households_household_change", args=[household.pk]))
    expect(page.locator("body")).to_contain_text("王母")
    page.screenshot(path=str(SHOTS / "household-2-members.png"), full_page=True)
    assert household.memberships.filter(left_at__isnull=True).count() == 2


def test_operator_enrols_a_member_with_a_friends_code(page, live_server, operator):
    from playwright.sync_api import expect

    friend = MemberFactory(name="李雷")
    code = referral_code_get(friend)
    log_in(page, live_server, operator)
    page.goto(reverse("admin:members_member_add"))
    page.locator("#id_name").fill("韩梅梅")
    page.locator("#id_mobile").fill("13912345678")
    page.locator("#id_referral_code").fill(code.lower())
    page.screenshot(path=str(SHOTS / "referral-1-add.png"), full_page=True)
    page.locator("#id_name").press("Enter")
    new = Member.objects.get(name="韩梅梅")
    assert Referral.objects.get(referee=new).referrer == friend
    page.goto(reverse("admin:referrals_referral_changelist"))
    expect(page.locator("#result_list")).to_contain_text("李雷")
    page.screenshot(path=str(SHOTS / "referral-2-list.png"), full_page=True)
    page.goto(reverse("admin:members_member_change", args=[friend.pk]))
    page.screenshot(path=str(SHOTS / "referral-3-referrer.png"), full_page=True)
