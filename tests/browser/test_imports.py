"""The import's progress bar in a real browser: the script polls the run's progress, moves the
bar, and shows the result once the run is done; after a stall it offers to resume."""

from __future__ import annotations

import pytest
from django.urls import reverse

from config.common.roles import Role
from members.imports.models import ImportProfile, ImportRun
from tests.factories import StoreFactory
from tests.imports.conftest import preview

pytestmark = pytest.mark.browser

PASSWORD = "pw-for-tests-2026"  # what tests/conftest.py's make_user gives every role user


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def sample_stores(transactional_db):
    return [StoreFactory(code=f"S000{i}", name=f"门店{i}") for i in range(3)]


def sign_in(page, user) -> None:
    page.goto("/admin/login/")
    page.locator("#id_username").fill(user.username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("#login-form [type=submit]").click()  # the admin theme's login button
    page.wait_for_url("**/admin/")


def test_progress_bar_moves_and_the_result_follows(page, make_user, sample_stores):
    from playwright.sync_api import expect

    operator = make_user(Role.OPERATOR)
    run = preview("pos_receipts_gbk", user=operator)
    ImportRun.objects.filter(pk=run.pk).update(status=ImportRun.Status.RUNNING, rows_done=39, busy_seconds=3)
    sign_in(page, operator)
    page.goto(reverse("admin:imports_importrun_change", args=[run.pk]))
    expect(page.locator("#import-progress .progress-percent")).to_have_text("21%")  # 39 of 184 rows

    ImportRun.objects.filter(pk=run.pk).update(rows_done=111, busy_seconds=6)  # 111 of 184 rows
    expect(page.locator("#import-progress .progress-percent")).to_have_text("60%")
    expect(page.locator("#import-progress progress")).to_have_attribute("value", "60")
    expect(page.locator("#import-progress .progress-rows")).to_contain_text("111")

    ImportRun.objects.filter(pk=run.pk).update(
        status=ImportRun.Status.DONE, rows_done=184, purchases_created=180, refunds_created=15
    )
    expect(page.locator("#import-result .result-purchases")).to_have_text("180")
    expect(page.locator("#import-progress")).to_have_count(0)


def test_a_stalled_import_offers_resume(page, make_user, sample_stores, monkeypatch):
    from playwright.sync_api import expect

    from members.imports import views

    monkeypatch.setattr(views, "STALL_SECONDS", 2)
    operator = make_user(Role.OPERATOR)
    run = preview("pos_receipts_gbk", user=operator)
    ImportRun.objects.filter(pk=run.pk).update(status=ImportRun.Status.RUNNING, rows_done=39, busy_seconds=3)
    sign_in(page, operator)
    page.goto(reverse("admin:imports_importrun_change", args=[run.pk]))
    resume = page.locator("#import-resume")
    expect(resume).to_be_hidden()
    expect(resume).to_be_visible(timeout=6_000)


def test_store_staff_import_the_pos_sample_and_see_a_members_points(page, make_user, sample_stores):
    """The issue's walk-through: upload the GBK POS sample, preview, confirm, watch the progress
    finish (the job runs in the server's background thread), open a member, see the points."""
    from playwright.sync_api import expect

    from members.models import Identity
    from points.models import Account
    from tests.imports.conftest import sample_bytes

    staff = make_user(Role.STORE_STAFF)
    for store in sample_stores:
        store.staff.add(staff)
    sample = sample_bytes("pos_receipts_gbk")
    sign_in(page, staff)
    page.goto(reverse("admin:imports_importrun_changelist"))
    # the list's own action, in the header (the sidebar links the upload too)
    page.locator("#header-inner").get_by_role("link", name="导入文件").click()
    profile = ImportProfile.objects.get(code="pos_receipts_gbk")
    page.locator("#id_profile").select_option(value=str(profile.pk))
    page.locator("#id_file").set_input_files(
        files=[{"name": "pos_receipts_gbk.csv", "mimeType": "text/csv", "buffer": sample}]
    )
    page.locator("#import-upload-form input[type=submit]").click()

    expect(page.locator(".count-ok")).to_have_text("184")  # the preview, before anything is written
    expect(page.locator(".count-rejected")).to_have_text("12")
    expect(page.locator(".count-skipped")).to_have_text("1")
    page.locator("#import-decision input[name=confirm]").click()

    expect(page.locator("#import-result .result-purchases")).to_have_text("176", timeout=60_000)
    expect(page.locator("#import-result .result-refunds")).to_have_text("8")
    run = ImportRun.objects.get()
    assert run.status == ImportRun.Status.DONE and run.created_by == staff

    member = Identity.objects.get(kind=Identity.Kind.CARD, value="VIP00000022").member
    points = Account.objects.get(member=member, point_type__code="points")
    assert points.available + points.pending > 0
    page.goto(reverse("admin:members_member_changelist") + "?q=VIP00000022")  # staff look up exactly
    page.get_by_role("link", name=member.member_number).click()
    balances = page.locator("#content-main")
    expect(balances).to_contain_text("积分")
    row = balances.get_by_role("row").filter(has=page.get_by_role("cell", name="积分", exact=True))
    expect(row.get_by_role("cell", name=str(points.available), exact=True).first).to_be_visible()
