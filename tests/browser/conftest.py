"""Browser tests: Playwright (sync API) driving Debian's headless chromium against ``live_server``.

Playwright never downloads a browser here (no ``playwright install``): it launches Debian's
chromium, which ``make test`` installs when it is missing and runs as root
(tests/browser/ensure_chromium.sh). Anywhere else without it, every browser test skips and says
what to install. ``BROWSER_TESTS_CHROMIUM=/path/to/chromium`` picks another binary; a path that
is not an executable file skips them too.

The live server answers from another thread with its own database connection, so it only sees
committed rows: every test using ``page`` runs with ``transactional_db``, and the database is
emptied after each (the role groups come back by themselves: ``flush`` runs post_migrate).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

NEED_CHROMIUM = (
    "browser tests need Debian's chromium: apt-get install chromium chromium-driver"
    " (make test does this when run as root)"
)
NEED_PLAYWRIGHT = "browser tests need the playwright package: make venv (it is in requirements-dev.lock)"
# Fails a test in seconds rather than Playwright's 30 s when the page is not what it expects.
TIMEOUT_MS = 5_000


def find_chromium() -> str | None:
    override = os.environ.get("BROWSER_TESTS_CHROMIUM")
    candidates = [override] if override else ["/usr/bin/chromium", shutil.which("chromium")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One headless chromium for all browser tests, closed once the last of them has run."""
    chromium = find_chromium()
    if chromium is None:
        pytest.skip(NEED_CHROMIUM)
    sync_api = pytest.importorskip("playwright.sync_api", reason=NEED_PLAYWRIGHT)
    # Playwright's sync API keeps an asyncio loop running in this thread until it stops, and
    # Django then refuses ORM calls here (SynchronousOnlyOperation) although nothing is async.
    # Allowed only while the browser is up: the package scope ends it before other tests run.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        playwright = sync_api.sync_playwright().start()
        try:
            # No sandbox (--no-sandbox): chromium's refuses to start as root, as in CI, and
            # needs user namespaces that containers often lack. Only our own pages are loaded.
            browser = playwright.chromium.launch(
                executable_path=chromium, headless=True, chromium_sandbox=False
            )
            yield browser
            browser.close()
        finally:
            playwright.stop()


@pytest.fixture
def page(browser: Browser, live_server, transactional_db) -> Iterator[Page]:
    """A fresh browser context (no cookies) on the live server, asking for Chinese as staff do."""
    context = browser.new_context(base_url=live_server.url, locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()
