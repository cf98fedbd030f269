"""What a partner can find out instead of guessing: itself (``GET /me/``) and the programme's
event types, tiers and point types."""

from __future__ import annotations

import pytest

from members.models import Channel
from members.partners.models import Grant
from members.purchases.models import EventType
from tests.api.conftest import PartnerClient, make_partner

pytestmark = pytest.mark.django_db


def test_me_is_the_callers_stores_channels_grants_and_limits(partner_a, partner_b):
    me = partner_a.get("/api/v1/me/").json()
    assert me == {
        "code": "pos-a",
        "name": "Partner pos-a",
        "kind": me["kind"],  # first/third party: set by the operator (another part of the issue)
        "stores": [{"code": "A001", "name": "pos-a store", "city": me["stores"][0]["city"]}],
        "channels": [
            {"code": "store", "name": "Store (POS)"},
            {"code": "wechat_mp", "name": "WeChat mini-program"},
        ],
        "grants": [{"code": g, "name": str(Grant(g).label)} for g in Grant.values],
        "rate_per_minute": 10_000,
        "idempotency_retention_hours": 48,
    }
    theirs = partner_b.get("/api/v1/me/").json()
    assert [s["code"] for s in theirs["stores"]] == ["B001"]  # B learns nothing of A's


def test_me_needs_no_grant_and_lists_only_what_is_granted():
    partner, key = make_partner("few", "F001", grants=[Grant.EVENTS_WRITE], channels=[Channel.APP])
    me = PartnerClient(key, partner).get("/api/v1/me/").json()
    assert (me["grants"], me["channels"]) == (
        [{"code": "events.write", "name": "Post behaviour events"}],
        [{"code": "app", "name": "App"}],
    )


def test_event_types_are_the_active_ones_that_can_be_posted(partner_a):
    EventType.objects.filter(code="share").update(active=False)
    listed = partner_a.get("/api/v1/event-types/").json()
    codes = [t["code"] for t in listed]
    assert "daily_sign_in" in codes and "share" not in codes
    assert codes == sorted(EventType.objects.filter(active=True).values_list("code", flat=True))


def test_tiers_and_point_types_as_the_programme_has_them(partner_a):
    tiers = partner_a.get("/api/v1/tiers/").json()
    assert tiers[0]["rank"] == 0 and tiers[0]["threshold"] == 0  # the entry tier first
    assert [t["rank"] for t in tiers] == sorted(t["rank"] for t in tiers)
    point_types = {p["code"]: p for p in partner_a.get("/api/v1/point-types/").json()}
    assert {"points", "growth"} <= set(point_types)
    assert (point_types["points"]["redeemable"], point_types["growth"]["redeemable"]) == (True, False)


def test_the_catalogues_need_their_grants():
    partner, key = make_partner("none", "N001", grants=[])
    client = PartnerClient(key, partner)
    for url in ("/api/v1/event-types/", "/api/v1/tiers/", "/api/v1/point-types/"):
        assert client.get(url).status_code == 403, url
    assert client.get("/api/v1/me/").status_code == 200
