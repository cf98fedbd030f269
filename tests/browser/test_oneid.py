"""An operator merges two records of one person in a real browser, from the nightly pairs, in Chinese.

Screenshots go to $BROWSER_SCREENSHOTS (default .screenshots/ in the checkout)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from members.models import Member
from members.oneid.candidates import duplicates_find
from members.oneid.models import MemberMerge
from tests.browser.test_journeys import log_in
from tests.factories import MemberFactory

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("BROWSER_SCREENSHOTS", Path(__file__).resolve().parents[2] / ".screenshots"))


def test_operator_merges_a_pair_the_nightly_search_found(page, live_server, operator):
    from playwright.sync_api import expect

    older = MemberFactory(name="林小雨", card="0088-1234")
    newer = MemberFactory(name="林小雨", card="881234")  # the mini-program dropped the zeros
    assert duplicates_find() == 1
    SHOTS.mkdir(exist_ok=True)
    log_in(page, live_server, operator)

    page.goto("/admin/oneid/duplicatecandidate/")
    expect(page.locator("#result_list")).to_contain_text("同一卡号的不同写法：881234")
    page.screenshot(path=str(SHOTS / "oneid-1-pairs.png"), full_page=True)
    page.get_by_role("link", name="合并…").click()

    preview = page.locator("#merge-preview")
    expect(preview).to_contain_text("保留")
    expect(preview).to_contain_text("提交即合并")
    page.locator("#id_reason").fill("会员来电核实：同一人")
    page.screenshot(path=str(SHOTS / "oneid-2-merge.png"), full_page=True)
    page.locator("#id_reason").press("Enter")

    expect(page.locator("#result_list")).to_contain_text("已合并")
    page.screenshot(path=str(SHOTS / "oneid-3-merged.png"), full_page=True)
    record = MemberMerge.objects.get()
    page.goto(f"/admin/oneid/membermerge/{record.pk}/change/")
    expect(page.locator("body")).to_contain_text("身份标识")
    page.screenshot(path=str(SHOTS / "oneid-4-what-moved.png"), full_page=True)
    assert Member.objects.get(pk=newer.pk).merged_into_id == older.pk
