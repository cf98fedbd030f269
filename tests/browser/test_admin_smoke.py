"""A store staff member signs in to the admin through its login form in a real browser, in Chinese."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

PASSWORD = "pw-for-tests-2026"  # what tests/conftest.py's make_user gives every role user


def test_store_staff_logs_in_and_sees_the_admin_index(page, live_server, store_staff):
    from playwright.sync_api import expect

    page.goto("/admin/")
    expect(page).to_have_url(f"{live_server.url}/admin/login/?next=/admin/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")

    page.get_by_label("用户名").fill(store_staff.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()

    expect(page).to_have_url(f"{live_server.url}/admin/")
    expect(page.locator("#site-name")).to_have_text("会员忠诚度管理后台")
    # the signed-in user, at the foot of the sidebar (the admin theme's user menu)
    expect(page.locator("#nav-sidebar").get_by_text(store_staff.username, exact=True)).to_be_visible()
    # The counter's work: members, the one thing staff may add; no users or roles.
    expect(page.locator("#content .app-members .model-member th a")).to_have_text("会员")
    add = page.locator("#content a.addlink")  # the theme draws it as a "+" icon titled 增加
    expect(add).to_have_count(1)
    expect(add).to_have_attribute("href", "/admin/members/member/add/")
    expect(add).to_have_attribute("title", "增加")
    expect(page.locator("#content .app-auth")).to_have_count(0)
    expect(page.locator('#nav-sidebar a[href^="/admin/auth/"]')).to_have_count(0)
