"""The API's rule book is reloaded every RULE_BOOK_CACHE_SECONDS, not on every purchase."""

from __future__ import annotations

import pytest

from campaigns import selectors
from tests.campaigns.conftest import campaign

pytestmark = pytest.mark.django_db


def test_a_new_campaign_reaches_the_api_within_the_cache_time(settings, monkeypatch):
    settings.RULE_BOOK_CACHE_SECONDS = 5
    clock = [1000.0]
    monkeypatch.setattr(selectors.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(selectors, "_cached", None)
    first = selectors.recent_rule_book()
    new = campaign(name="会员日")
    clock[0] += 4.9
    assert selectors.recent_rule_book() is first  # no queries within the cache time
    assert new.pk not in first.campaigns
    clock[0] += 0.1
    assert new.pk in selectors.recent_rule_book().campaigns


def test_zero_reloads_every_time(settings):
    settings.RULE_BOOK_CACHE_SECONDS = 0
    assert selectors.recent_rule_book() is not selectors.recent_rule_book()
