"""The till's pages in a real browser, in Chinese: a clerk redeems a coupon against the basket at
the counter (refused under its minimum spend, then redeemed and undone), finance reads the report
of points used as cash and the membership-fee revenue. Screenshots in $BROWSER_SCREENSHOTS."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from benefits.coupons import coupon_issue
from benefits.models import Benefit, Coupon
from tests.browser.test_journeys import log_in
from tests.browser.test_oneid import SHOTS
from tests.cash.conftest import rule  # noqa: F401  (a fixture)
from tests.cash.test_admin import paid  # noqa: F401  (a fixture)
from tests.factories import MemberFactory, StoreFactory
from tests.tiers.test_revenue import payments, plans  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


def test_a_clerk_redeems_a_coupon_on_the_basket_and_undoes_it(page, live_server, store_staff):
    from playwright.sync_api import expect

    store = StoreFactory(code="S01", name="静安店")
    store.staff.add(store_staff)
    benefit = Benefit.objects.create(
        name="满100减20", kind=Benefit.Kind.AMOUNT_OFF, value=Decimal("20"), min_spend=Decimal("100")
    )
    coupon = coupon_issue(MemberFactory(name="李娜"), benefit=benefit, origin=Coupon.Origin.MANUAL)
    SHOTS.mkdir(exist_ok=True)
    log_in(page, live_server, store_staff)
    page.goto(reverse("admin:benefits_coupon_redeem"))
    page.locator("#id_code").fill(coupon.display_code)
    page.locator("#id_amount").fill("80")
    page.locator("input[name=check]").click()
    expect(page.locator("body")).to_contain_text("¥100.00")  # the minimum spend, refused
    page.screenshot(path=str(SHOTS / "till-1-counter-minimum.png"), full_page=True)
    page.locator("#id_amount").fill("128")
    page.locator("input[name=check]").click()
    expect(page.locator("input[name=redeem]")).to_be_visible()
    page.screenshot(path=str(SHOTS / "till-2-counter-checked.png"), full_page=True)
    page.locator("input[name=redeem]").click()
    expect(page.locator("body")).to_contain_text("¥20.00")
    assert Coupon.objects.get(pk=coupon.pk).status == Coupon.Status.REDEEMED
    page.screenshot(path=str(SHOTS / "till-3-counter-redeemed.png"), full_page=True)
    page.locator("form:has(input[name=void]) [type=submit]").first.click()
    expect(page.locator("body")).to_contain_text("撤销")
    page.screenshot(path=str(SHOTS / "till-4-counter-undone.png"), full_page=True)
    assert Coupon.objects.get(pk=coupon.pk).status == Coupon.Status.ISSUED


@pytest.mark.usefixtures("paid", "payments")
def test_finance_reads_points_used_as_cash_and_the_membership_fees(page, live_server, finance):
    from playwright.sync_api import expect

    SHOTS.mkdir(exist_ok=True)
    log_in(page, live_server, finance)
    page.goto(reverse("admin:cash_hold_report") + "?first=2026-03-01&last=2026-03-31")
    expect(page.locator("body")).to_contain_text("静安店")
    expect(page.locator("body")).to_contain_text("3,000")
    page.screenshot(path=str(SHOTS / "till-5-cash-report.png"), full_page=True)
    page.goto(reverse("admin:tiers_subscription_revenue") + "?from=2026-01&to=2026-04")
    expect(page.locator("body")).to_contain_text("PLUS会员")
    expect(page.locator("body")).to_contain_text("344.57")
    page.screenshot(path=str(SHOTS / "till-6-revenue.png"), full_page=True)
