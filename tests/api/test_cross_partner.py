"""Partner B asks for partner A's things through every endpoint: 404 (or absent from lists),
exactly as if they did not exist, and nothing changes.

The matrix is checked against the schema, so a new endpoint without a row here fails the test.
"""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from benefits.models import Coupon, Redemption
from campaigns.models import Award, AwardLine
from members.models import ConsentRecord, Identity, Member, MemberEvent, Purchase, Refund
from members.partners.models import PartnerMember
from points.models import Account, Entry
from tests.benefits import conftest as benefits_fixtures
from tests.benefits.conftest import give_points

pytestmark = pytest.mark.django_db

twenty_off = benefits_fixtures.twenty_off
voucher = benefits_fixtures.voucher

#: Not partner-owned: the brand's catalogue is the same for every partner with rewards.read.
SHARED = {("get", "/api/v1/rewards/"), ("get", "/api/v1/rewards/{id}/")}
#: The programme's catalogues are the same for every partner too; `/me/` is the caller itself
#: (test_discovery: B's shows B's stores and grants, none of A's).
SHARED |= {("get", "/api/v1/event-types/"), ("get", "/api/v1/tiers/"), ("get", "/api/v1/point-types/")}
SHARED |= {("get", "/api/v1/me/")}
#: Enrol-or-find: the customer gives their phone or card at B's counter (tested in test_members).
CUSTOMER_PRESENT = {("post", "/api/v1/members/")}


@pytest.fixture
def a_world(partner_a, voucher):
    """A's member with points, a purchase (with a refund), a redemption and its coupon."""
    member = partner_a.post(
        "/api/v1/members/", {"mobile": "13812345678", "identities": [{"kind": "card", "value": "VIP-1"}]}
    ).json()
    number = member["member_number"]
    yesterday = timezone.now() - datetime.timedelta(days=1)
    give_points(Member.objects.get(member_number=number), 5000, at=yesterday)
    at = (timezone.now() - datetime.timedelta(hours=2)).isoformat()
    purchase = partner_a.post(
        "/api/v1/purchases/",
        {"member_number": number, "order_number": "A-1", "channel": "store", "store": "A001",
         "occurred_at": at, "gross_amount": "100.00", "paid_amount": "100.00"},
    )  # fmt: skip
    assert purchase.status_code == 201, purchase.json()
    redemption = partner_a.post(f"/api/v1/rewards/{voucher.pk}/redeem/", {"member_number": number}).json()
    return {
        "number": number,
        "order": "A-1",
        "redemption": redemption["redemption"]["id"],
        "coupon": redemption["redemption"]["coupon"]["code"],
        "reward": voucher.pk,
        "at": at,
    }


def matrix(w: dict) -> list[tuple[str, str, str, dict | None]]:
    """(method, schema path, concrete URL or URL with query, body) for B aiming at A's things."""
    n, order, red, code = w["number"], w["order"], w["redemption"], w["coupon"]
    return [
        ("get", "/api/v1/members/{member_number}/", f"/api/v1/members/{n}/", None),
        ("patch", "/api/v1/members/{member_number}/", f"/api/v1/members/{n}/", {"name": "B was here"}),
        ("get", "/api/v1/members/lookup/", f"/api/v1/members/lookup/?member_number={n}", None),
        ("get", "/api/v1/members/lookup/", "/api/v1/members/lookup/?phone=13812345678", None),
        ("get", "/api/v1/members/lookup/", "/api/v1/members/lookup/?kind=card&value=VIP-1", None),
        ("get", "/api/v1/members/{member_number}/balances/", f"/api/v1/members/{n}/balances/", None),
        ("get", "/api/v1/members/{member_number}/ledger/", f"/api/v1/members/{n}/ledger/", None),
        ("get", "/api/v1/members/{member_number}/tier/", f"/api/v1/members/{n}/tier/", None),
        ("get", "/api/v1/members/{member_number}/coupons/", f"/api/v1/members/{n}/coupons/", None),
        ("get", "/api/v1/purchases/{order_number}/", f"/api/v1/purchases/{order}/", None),
        ("post", "/api/v1/purchases/{order_number}/refunds/", f"/api/v1/purchases/{order}/refunds/",
         {"refund_number": "R-1", "amount": "10.00", "occurred_at": w["at"]}),
        ("post", "/api/v1/purchases/", "/api/v1/purchases/",
         {"member_number": n, "order_number": "B-1", "channel": "store", "store": "B001",
          "occurred_at": w["at"], "gross_amount": "50.00", "paid_amount": "50.00"}),
        ("post", "/api/v1/events/", "/api/v1/events/",
         {"member_number": n, "event_type": "daily_sign_in", "key": "sign-1", "occurred_at": w["at"]}),
        ("post", "/api/v1/preview/", "/api/v1/preview/",
         {"member_number": n, "channel": "store", "paid_amount": "10.00", "lines": []}),
        ("post", "/api/v1/rewards/{id}/redeem/", f"/api/v1/rewards/{w['reward']}/redeem/",
         {"member_number": n}),
        ("get", "/api/v1/redemptions/{id}/", f"/api/v1/redemptions/{red}/", None),
        ("post", "/api/v1/redemptions/{id}/cancel/", f"/api/v1/redemptions/{red}/cancel/", {"reason": "B"}),
        ("post", "/api/v1/coupons/validate/", "/api/v1/coupons/validate/", {"code": code, "store": "B001"}),
        ("post", "/api/v1/coupons/redeem/", "/api/v1/coupons/redeem/", {"code": code, "store": "B001"}),
    ]  # fmt: skip


LISTS = {  # lists answer 200, without A's things
    "/api/v1/members/": "member_number",
    "/api/v1/purchases/": "order_number",
    "/api/v1/redemptions/": "id",
}


def snapshot() -> dict:
    """Everything a partner could change, as plain values."""
    return {
        "members": list(Member.objects.order_by("pk").values()),
        "identities": list(Identity.objects.order_by("pk").values_list("member_id", "kind", "value")),
        "consents": ConsentRecord.objects.count(),
        "links": sorted(PartnerMember.objects.values_list("partner_id", "member_id")),
        "purchases": list(Purchase.objects.order_by("pk").values()),
        "refunds": Refund.objects.count(),
        "events": MemberEvent.objects.count(),
        "awards": Award.objects.count(),
        "award_lines": AwardLine.objects.count(),
        "entries": Entry.objects.count(),
        "accounts": list(Account.objects.order_by("pk").values()),
        "coupons": list(Coupon.objects.order_by("pk").values()),
        "redemptions": list(Redemption.objects.order_by("pk").values()),
    }


def test_partner_b_gets_404_for_everything_of_partner_a(partner_a, partner_b, a_world):
    before = snapshot()
    for method, _path, url, body in matrix(a_world):
        response = getattr(partner_b, method)(url, body) if body is not None else partner_b.get(url)
        assert response.status_code == 404, (method, url, response.content)
        assert response.json() == {"code": "not_found", "message": "Not found.", "fields": {}}, url
        assert snapshot() == before, f"{method} {url} changed something"
    for url, field in LISTS.items():
        mine = partner_a.get(url).json()["results"]
        theirs = partner_b.get(url).json()["results"]
        assert mine, url  # A's things exist ...
        assert not {item[field] for item in mine} & {item[field] for item in theirs}, url  # ... B sees none
    assert snapshot() == before


def test_unknown_objects_look_the_same_as_other_partners(partner_b, a_world):
    """No existence leak: A's member number and a number nobody has get the same answer."""
    mine = partner_b.get(f"/api/v1/members/{a_world['number']}/")
    nobody = partner_b.get("/api/v1/members/80000000000/")
    assert (mine.status_code, mine.content) == (nobody.status_code, nobody.content)


def test_the_matrix_covers_every_operation_of_the_schema(a_world):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = {(method, path) for path, ops in schema["paths"].items() for method in ops}
    covered = {(method, path) for method, path, _url, _body in matrix(a_world)}
    covered |= {("get", url) for url in LISTS} | SHARED | CUSTOMER_PRESENT
    assert operations == covered
