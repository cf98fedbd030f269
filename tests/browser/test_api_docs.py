"""The API docs page renders every operation with no request leaving the server (offline)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.browser


def client_schema() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def test_docs_page_works_offline(page, live_server):
    ours = urlsplit(live_server.url).netloc
    outside: list[str] = []

    def only_ours(route):
        if urlsplit(route.request.url).netloc == ours:
            route.continue_()
        else:  # what a machine without internet would see
            outside.append(route.request.url)
            route.abort()

    # Before the page asks the live server for the schema: drf-spectacular's first generation in a
    # process is not thread-safe (it loads its extensions' classes).
    operations = sum(len(ops) for ops in client_schema()["paths"].values())
    page.route("**/*", only_ours)
    page.goto("/api/docs/")
    page.wait_for_function(f"document.querySelectorAll('.opblock').length >= {operations}")
    paths = {p.strip() for p in page.locator(".opblock-summary-path").all_inner_texts()}
    assert {"/api/v1/purchases/", "/api/v1/members/lookup/", "/api/v1/preview/"} <= paths
    assert page.locator("text=Loyalty partner API").count() >= 1
    assert outside == []
