"""The till's endpoints: a third-party partner holds only during a visit and sees only its own
holds; malformed input is a 400 naming the field, a rule's refusal a 422 with its code."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from members.models import Member
from members.partners.models import Grant, PartnerKind, PartnerMember
from members.partners.services import member_link
from points.cash.models import Hold
from tests.api.conftest import PartnerClient, make_partner
from tests.cash.conftest import account, earn
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def brand(db) -> PartnerClient:
    partner, key = make_partner("pos-a", "A001", kind=PartnerKind.FIRST_PARTY)
    return PartnerClient(key, partner)


@pytest.fixture
def mall(db) -> PartnerClient:
    partner, key = make_partner("mall-b", "B001")  # third-party
    return PartnerClient(key, partner)


@pytest.fixture
def member(rule) -> Member:
    member = MemberFactory(name="陈静")
    earn(member, 6000, timezone.now() - datetime.timedelta(days=10))
    return member


def sale(member: Member, store: str, **fields) -> dict:
    return {
        "member_number": member.member_number, "points": 1000, "channel": "store", "store": store,
        "amount": "100.00",
    } | fields  # fmt: skip


def visit(client: PartnerClient, member: Member, open_now: bool) -> None:
    member_link(partner=client.partner, member=member)
    until = timezone.now() + datetime.timedelta(minutes=15 if open_now else -1)
    PartnerMember.objects.filter(partner=client.partner, member=member).update(visit_until=until)


def test_a_third_party_holds_only_during_a_visit_and_reads_only_its_own_holds(brand, mall, member):
    visit(mall, member, open_now=False)
    quote = mall.post(
        f"/api/v1/members/{member.member_number}/points/quote/",
        {"channel": "store", "store": "B001", "amount": "100.00"},
        idempotency_key=None,
    )
    assert quote.status_code == 200 and quote.json()["max_points"] == 5000  # reading needs no visit
    refused = mall.post("/api/v1/points/holds/", sale(member, "B001"))
    assert (refused.status_code, refused.json()["code"]) == (403, "member_code_required")
    assert not Hold.objects.exists()

    visit(mall, member, open_now=True)
    held = mall.post("/api/v1/points/holds/", sale(member, "B001"))
    assert held.status_code == 201, held.json()
    mine = held.json()["hold"]["id"]
    theirs = brand.post("/api/v1/points/holds/", sale(member, "A001")).json()["hold"]["id"]
    assert account(member).available == 4000
    # each partner reads and releases only its own holds; the other's look like nothing
    for client, other in ((mall, theirs), (brand, mine)):
        assert client.get(f"/api/v1/points/holds/{other}/").status_code == 404
        assert client.post(f"/api/v1/points/holds/{other}/release/").status_code == 404
        paid = client.post(
            "/api/v1/purchases/",
            {
                "member_number": member.member_number, "order_number": f"X-{other}", "channel": "store",
                "store": client.partner.stores.get().code, "occurred_at": timezone.now().isoformat(),
                "gross_amount": "100.00", "paid_amount": "100.00", "points_hold": other,
            },
        )  # fmt: skip
        assert (paid.status_code, set(paid.json()["fields"])) == (400, {"points_hold"})
    assert Hold.objects.filter(status=Hold.Status.ACTIVE).count() == 2
    # its own: released without a visit (points go back, as cancelling a redemption)
    visit(mall, member, open_now=False)
    assert mall.post(f"/api/v1/points/holds/{mine}/release/").status_code == 200
    assert account(member).available == 5000


def test_without_the_grant_403(db, member):
    partner, key = make_partner("no-pay", "C001", grants=[g for g in Grant.values if g != Grant.POINTS_PAY])
    client = PartnerClient(key, partner)
    member_link(partner=partner, member=member)
    assert client.post("/api/v1/points/holds/", sale(member, "C001")).status_code == 403
    quote = client.post(
        f"/api/v1/members/{member.member_number}/points/quote/", {"channel": "store", "amount": "1.00"}
    )
    assert quote.status_code == 403


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"points": "1000"}, "points"),  # a string
        ({"points": 1000.0}, "points"),
        ({"points": True}, "points"),
        ({"points": 0}, "points"),
        ({"amount": 100}, "amount"),  # a JSON number
        ({"store": "A001"}, "store"),  # the other partner's store (the sale's is B001)
        ({"channel": "jd"}, "channel"),  # not one of the partner's channels
        ({"point_type": "coins"}, "point_type"),
        ({"lines": [{"sku": "X", "amount": "120.00"}]}, "lines"),  # more than the amount
        ({"balance": 9}, "balance"),  # no such field
    ],
)
def test_malformed_input_is_a_400_naming_the_field(mall, member, fields, named):
    visit(mall, member, open_now=True)
    response = mall.post("/api/v1/points/holds/", sale(member, "B001") | fields)
    assert (response.status_code, response.json()["code"]) == (400, "invalid"), response.json()
    assert set(response.json()["fields"]) == {named}
    assert not Hold.objects.exists()


@pytest.mark.parametrize(
    ("fields", "code", "named"),
    [
        ({"points": 1050}, "points_step", {"points"}),
        ({"points": 5100}, "over_cash_limit", {"points"}),  # half of 100 CNY at most: 5,000
        ({"points": 5000, "amount": "1000.00"}, None, None),
        ({"points": 7000, "amount": "1000.00"}, "insufficient_points", {"points"}),
        ({"point_type": "growth"}, "not_redeemable", {"point_type"}),
    ],
)
def test_a_rule_refusing_the_hold_is_a_422_with_its_code(brand, member, fields, code, named):
    response = brand.post("/api/v1/points/holds/", sale(member, "A001", **fields))
    if code is None:
        assert response.status_code == 201, response.json()
        return
    assert (response.status_code, response.json()["code"]) == (422, code), response.json()
    assert set(response.json()["fields"]) == named
    assert not Hold.objects.exists() and account(member).available == 6000


def test_a_purchase_whose_amounts_disagree_with_the_hold(brand, member):
    hold = brand.post("/api/v1/points/holds/", sale(member, "A001")).json()["hold"]["id"]
    receipt = {
        "member_number": member.member_number, "order_number": "M-1", "channel": "store", "store": "A001",
        "occurred_at": timezone.now().isoformat(), "gross_amount": "100.00", "paid_amount": "100.00",
        "points_hold": hold,
    }  # fmt: skip
    wrong = brand.post("/api/v1/purchases/", {**receipt, "points_amount": "5.00"})
    assert (wrong.status_code, wrong.json()["code"]) == (422, "hold_mismatch")
    assert set(wrong.json()["fields"]) == {"points_amount"}
    small = brand.post("/api/v1/purchases/", {**receipt, "paid_amount": "8.00", "gross_amount": "8.00"})
    assert (small.status_code, set(small.json()["fields"])) == (400, {"points_amount"})  # 10 CNY > 8 paid
    other = MemberFactory()
    someone_else = brand.post("/api/v1/purchases/", {**receipt, "member_number": other.member_number})
    assert (someone_else.status_code, someone_else.json()["code"]) == (422, "hold_mismatch")
    assert set(someone_else.json()["fields"]) == {"member_number"}
    assert Hold.objects.get(pk=hold).status == Hold.Status.ACTIVE
    assert brand.post("/api/v1/purchases/", receipt).status_code == 201
