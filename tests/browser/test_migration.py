"""An operator moves a brand's points in from its old CRM in a real browser, in Chinese: the
dry run's totals, the import, the report that balances, and its download.

Screenshots go to $BROWSER_SCREENSHOTS (default .screenshots/ in the checkout)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from config.common.roles import Role
from members.imports.models import ImportProfile
from points.models import Account
from tests.browser.test_imports import sign_in
from tests.browser.test_oneid import SHOTS
from tests.fixtures.old_crm import old_crm_export
from tests.imports.test_migration import run

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def test_operator_brings_in_opening_balances_and_the_report_balances(page, make_user, transactional_db):
    from playwright.sync_api import expect

    export = old_crm_export(40, seed=3, today=timezone.localdate(), planted=True)
    operator = make_user(Role.OPERATOR)
    run("members", export.members, user=operator)
    SHOTS.mkdir(exist_ok=True)
    sign_in(page, operator)
    page.goto(reverse("admin:imports_importrun_upload"))
    profile = ImportProfile.objects.get(code="migration_balances")
    page.locator("#id_profile").select_option(value=str(profile.pk))
    page.locator("#id_file").set_input_files(
        files=[{"name": "旧CRM积分.csv", "mimeType": "text/csv", "buffer": export.balances}]
    )
    page.locator("#import-upload-form input[type=submit]").click()

    report = page.locator("#import-report")
    expect(report).to_contain_text("试运行")
    points = report.locator("tr.report-line").filter(has_text="积分").first
    expect(points.locator(".report-waiting")).to_have_text(f"{export.expected.points_good:,}")
    page.screenshot(path=str(SHOTS / "migration-1-dry-run.png"), full_page=True)
    page.locator("#import-decision input[name=confirm]").click()

    expect(page.locator("#import-result")).to_be_visible(timeout=60_000)
    points = page.locator("#import-report tr.report-line").filter(has_text="积分").first
    expect(points.locator(".report-held")).to_have_text(f"{export.expected.points_good:,}")
    expect(points.locator(".report-balanced")).to_contain_text("是")
    page.screenshot(path=str(SHOTS / "migration-2-report.png"), full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="XLSX").click()
    assert download.value.suggested_filename.endswith(".xlsx")
    held = sum(Account.objects.filter(point_type__code="points").values_list("available", flat=True))
    assert held == export.expected.points_good
