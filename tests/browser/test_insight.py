"""Every insight page in a real browser, in Chinese and in English, with every request to another
host blocked (the admin works offline: ECharts is the project's own static file). Each chart
must be drawn (a canvas in its box) and the console must stay free of errors. Screenshots go to
$BROWSER_SCREENSHOTS (default .screenshots/ in the checkout) to be looked at."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.urls import reverse

from campaigns.insight.admin import PAGES
from members.scoring.services import members_score
from tests.insight.conftest import D1, D2, build_programme, roll_up
from tests.tiers.conftest import ladder  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser

PASSWORD = "pw-for-tests-2026"
SHOTS = Path(os.environ.get("BROWSER_SCREENSHOTS", Path(__file__).resolve().parents[2] / ".screenshots"))


@pytest.fixture
def figures(transactional_db, ladder):  # noqa: F811
    programme = build_programme(ladder)
    roll_up()
    members_score()
    return programme


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_every_insight_page_draws_its_charts_offline(page, live_server, figures, administrator, language):
    from playwright.sync_api import expect

    errors: list[str] = []
    outside: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))

    def only_ours(route):
        if route.request.url.startswith(live_server.url):
            return route.continue_()
        outside.append(route.request.url)
        return route.abort()

    page.route("**/*", only_ours)
    page.context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    page.goto("/admin/login/")
    page.locator("#id_username").fill(administrator.username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("#id_password").press("Enter")
    expect(page).to_have_url(f"{live_server.url}/admin/")
    SHOTS.mkdir(parents=True, exist_ok=True)
    query = f"?period=custom&start={D1}&end={D2}"
    for name, _title, _perms in PAGES:
        page.goto(reverse(f"admin:insight_{name}") + query)
        expect(page.locator("html")).to_have_attribute("lang", language)
        boxes = page.locator(".insight-chart")
        assert boxes.count() > 0, name
        for index in range(boxes.count()):
            expect(boxes.nth(index).locator("canvas").first).to_be_visible()  # heat maps draw in layers
        page.screenshot(path=str(SHOTS / f"insight-{name}-{language}.png"), full_page=True)
    assert errors == []
    assert outside == []
