"""Partner B asks for partner A's things through every endpoint: 404 (or absent from lists),
exactly as if they did not exist, and nothing changes.

A is the brand's own POS (first-party), B a mall's POS (third-party). B knows A's member's phone,
card and member number: that proves nothing. B can neither read, change, link nor spend without
the member code the customer's app shows; with one it links, reads, and spends during the visit.

The matrix is checked against the schema, so a new endpoint without a row here fails the test.
"""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from benefits.coupons import coupon_issue
from benefits.models import Coupon, CouponRedemption, Redemption
from campaigns.models import Award, AwardLine
from members.messaging.models import Message
from members.messaging.services import Outgoing, message_queue, messages_send_due
from members.models import ConsentRecord, Identity, Member
from members.partners.models import MemberCode, PartnerKind, PartnerMember
from members.purchases.models import MemberEvent, Purchase, Refund
from points.cash.models import CashRule, Hold
from points.models import Account, Entry
from tests.benefits import conftest as benefits_fixtures
from tests.benefits.conftest import give_points
from tiers.models import Plan, PlanOrder, Subscription

pytestmark = pytest.mark.django_db

twenty_off = benefits_fixtures.twenty_off
voucher = benefits_fixtures.voucher

#: Not partner-owned: the brand's catalogue is the same for every partner with rewards.read.
SHARED = {("get", "/api/v1/rewards/"), ("get", "/api/v1/rewards/{id}/")}
#: The programme's catalogues are the same for every partner too; `/me/` is the caller itself
#: (test_discovery: B's shows B's stores and grants, none of A's).
SHARED |= {("get", "/api/v1/event-types/"), ("get", "/api/v1/tiers/"), ("get", "/api/v1/point-types/")}
SHARED |= {("get", "/api/v1/me/"), ("get", "/api/v1/plans/")}
#: Not in the schema, so not here: POST /api/v1/payments/notify/ takes no partner key; the brand's
#: payment system signs it (tests/api/test_plans.py: a partner's key changes nothing there).

NOT_FOUND = (404, "not_found")
VOID = "/api/v1/coupons/void/"
#: The one refusal for "the customer must show their code": it says nothing about the member.
CODE_REQUIRED = (403, "member_code_required")
GUESSED_CODE = "123456789012345678"


@pytest.fixture
def a_world(partner_a, voucher, twenty_off):
    """A's member with points, a purchase (with a refund), a redemption and its coupon, and
    another coupon A redeemed for the purchase."""
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
    used = coupon_issue(Member.objects.get(member_number=number), benefit=twenty_off, origin="manual")
    redeemed = partner_a.post(
        "/api/v1/coupons/redeem/",
        {"code": used.code, "store": "A001", "amount": "100.00", "order_number": "A-1"},
    )
    assert redeemed.status_code == 200, redeemed.json()
    inbox = message_queue(
        Outgoing(
            member=Member.objects.get(member_number=number), channel="inbox", body="A 的消息", key="a-inbox"
        )
    )
    messages_send_due()
    Plan.objects.create(code="plus", name="PLUS会员", price="199.00")
    plan_order = partner_a.post("/api/v1/plans/plus/orders/", {"member_number": number}).json()
    # a hold A's till took for the member and released (points as cash)
    CashRule.objects.filter(point_type__code="points").update(active=True)
    sale = {"member_number": number, "points": 100, "channel": "store", "store": "A001", "amount": "10.00"}
    hold = partner_a.post("/api/v1/points/holds/", sale).json()["hold"]["id"]
    assert partner_a.post(f"/api/v1/points/holds/{hold}/release/").status_code == 200
    return {
        "plan_order": plan_order["order_number"],
        "hold": hold,
        "inbox": inbox.pk,
        "number": number,
        "order": "A-1",
        "redemption": redemption["redemption"]["id"],
        "coupon": redemption["redemption"]["coupon"]["code"],
        "used_coupon": used.code,
        "reward": voucher.pk,
        "at": at,
    }


def matrix(w: dict) -> list[tuple[str, str, str, dict | None, tuple[int, str]]]:
    """(method, schema path, concrete URL or URL with query, body, B's answer) for B aiming at A's
    things with everything it may know of A's member: phone, card and number."""
    n, order, red, code = w["number"], w["order"], w["redemption"], w["coupon"]
    rows = [
        ("get", "/api/v1/members/{member_number}/", f"/api/v1/members/{n}/", None),
        ("patch", "/api/v1/members/{member_number}/", f"/api/v1/members/{n}/", {"name": "B was here"}),
        ("get", "/api/v1/members/lookup/", f"/api/v1/members/lookup/?member_number={n}", None),
        ("get", "/api/v1/members/lookup/", "/api/v1/members/lookup/?phone=13812345678", None),
        ("get", "/api/v1/members/lookup/", "/api/v1/members/lookup/?kind=card&value=VIP-1", None),
        ("get", "/api/v1/members/{member_number}/balances/", f"/api/v1/members/{n}/balances/", None),
        ("get", "/api/v1/members/{member_number}/ledger/", f"/api/v1/members/{n}/ledger/", None),
        ("get", "/api/v1/members/{member_number}/household/", f"/api/v1/members/{n}/household/", None),
        ("get", "/api/v1/members/{member_number}/tier/", f"/api/v1/members/{n}/tier/", None),
        ("get", "/api/v1/members/{member_number}/referral/", f"/api/v1/members/{n}/referral/", None),
        ("get", "/api/v1/members/{member_number}/coupons/", f"/api/v1/members/{n}/coupons/", None),
        ("get", "/api/v1/members/{member_number}/inbox/", f"/api/v1/members/{n}/inbox/", None),
        ("post", "/api/v1/members/{member_number}/inbox/{message_id}/read/",
         f"/api/v1/members/{n}/inbox/{w['inbox']}/read/", {}),
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
        ("post", "/api/v1/members/{member_number}/points/quote/", f"/api/v1/members/{n}/points/quote/",
         {"channel": "store", "amount": "10.00"}),
        ("post", "/api/v1/points/holds/", "/api/v1/points/holds/",
         {"member_number": n, "points": 100, "channel": "store", "store": "B001", "amount": "10.00"}),
        ("get", "/api/v1/points/holds/{id}/", f"/api/v1/points/holds/{w['hold']}/", None),
        ("post", "/api/v1/points/holds/{id}/release/", f"/api/v1/points/holds/{w['hold']}/release/", {}),
        ("post", "/api/v1/rewards/{id}/redeem/", f"/api/v1/rewards/{w['reward']}/redeem/",
         {"member_number": n}),
        ("get", "/api/v1/redemptions/{id}/", f"/api/v1/redemptions/{red}/", None),
        ("post", "/api/v1/redemptions/{id}/cancel/", f"/api/v1/redemptions/{red}/cancel/", {"reason": "B"}),
        ("post", "/api/v1/coupons/validate/", "/api/v1/coupons/validate/", {"code": code, "store": "B001"}),
        ("post", "/api/v1/coupons/redeem/", "/api/v1/coupons/redeem/", {"code": code, "store": "B001"}),
        ("post", "/api/v1/plans/{code}/orders/", "/api/v1/plans/plus/orders/", {"member_number": n}),
        ("get", "/api/v1/plan-orders/{order_number}/", f"/api/v1/plan-orders/{w['plan_order']}/", None),
        ("post", "/api/v1/plan-orders/{order_number}/cancel/",
         f"/api/v1/plan-orders/{w['plan_order']}/cancel/", {"reason": "B"}),
        ("post", VOID, VOID, {"code": w["used_coupon"], "reason": "undo"}),
        ("post", VOID, VOID, {"code": w["used_coupon"], "reason": "order_cancelled", "order_number": "A-1"}),
    ]  # fmt: skip
    rows = [(*row, NOT_FOUND) for row in rows]
    takeover = [  # enrol-or-find with A's member's phone or card; codes B cannot issue or guess
        ("post", "/api/v1/members/", "/api/v1/members/", {"mobile": "13812345678"}, CODE_REQUIRED),
        (
            "post",
            "/api/v1/members/",
            "/api/v1/members/",
            {"identities": [{"kind": "card", "value": "VIP-1"}]},
            CODE_REQUIRED,
        ),
        (
            "post",
            "/api/v1/members/",
            "/api/v1/members/",
            {"mobile": "13812345678", "identities": [{"kind": "card", "value": "VIP-1"}]},
            CODE_REQUIRED,
        ),
        (  # A's member's phone with a referral code: still only the customer's code reaches them
            "post",
            "/api/v1/members/",
            "/api/v1/members/",
            {"mobile": "13812345678", "referral_code": "ZZZZ2222"},
            CODE_REQUIRED,
        ),
        (
            "post",
            "/api/v1/members/{member_number}/codes/",
            f"/api/v1/members/{n}/codes/",
            {},
            (403, "first_party_only"),
        ),
        (
            "post",
            "/api/v1/members/link/",
            "/api/v1/members/link/",
            {"member_code": GUESSED_CODE},
            (422, "member_code_invalid"),
        ),
    ]
    return rows + takeover


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
        "coupon_redemptions": list(CouponRedemption.objects.order_by("pk").values()),
        "redemptions": list(Redemption.objects.order_by("pk").values()),
        "holds": list(Hold.objects.order_by("pk").values()),
        "messages": list(Message.objects.order_by("pk").values()),
        "plan_orders": list(PlanOrder.objects.order_by("pk").values()),
        "subscriptions": list(Subscription.objects.order_by("pk").values()),
    }


def test_partner_b_gets_404_for_everything_of_partner_a(partner_a, partner_b, a_world):
    """Without the customer's code B can neither read, change, link nor spend; each answer
    carries nothing of the member (no number, name or masked phone)."""
    before = snapshot()
    for method, _path, url, body, (status, code) in matrix(a_world):
        response = getattr(partner_b, method)(url, body) if body is not None else partner_b.get(url)
        assert (response.status_code, response.json()["code"]) == (status, code), (
            method,
            url,
            response.content,
        )
        if code == "not_found":
            assert response.json() == {"code": "not_found", "message": "Not found.", "fields": {}}, url
        text = response.content.decode()
        assert a_world["number"] not in text and "5678" not in text and "VIP" not in text, (url, text)
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
    covered = {(method, path) for method, path, _url, _body, _answer in matrix(a_world)}
    covered |= {("get", url) for url in LISTS} | SHARED
    assert operations == covered


# --- the takeover path: the customer's member code ----------------------------------------------


def issue_code(client, number: str) -> str:
    """The code the brand's app shows (A, first-party, stands for the brand's app here)."""
    response = client.post(f"/api/v1/members/{number}/codes/", {})
    assert response.status_code == 201, response.json()
    return response.json()["code"]


def link(client, code: str):
    return client.post("/api/v1/members/link/", {"member_code": code})


def spend(client, w: dict):
    return client.post(f"/api/v1/rewards/{w['reward']}/redeem/", {"member_number": w["number"]})


def points_left(number: str) -> int:
    return Account.objects.get(member__member_number=number, point_type__code="points").available


def close_visits() -> None:
    """The visit's 15 minutes have passed."""
    PartnerMember.objects.update(visit_until=timezone.now() - datetime.timedelta(seconds=1))


def test_with_the_customers_code_b_links_reads_earns_and_spends_during_the_visit(
    partner_a, partner_b, a_world
):
    n = a_world["number"]
    give_points(Member.objects.get(member_number=n), 1000, at=timezone.now() - datetime.timedelta(days=1))
    assert points_left(n) == 4000  # 6,000 given, 2,000 spent on A's voucher
    linked = link(partner_b, issue_code(partner_a, n))
    assert linked.status_code == 200, linked.json()
    assert linked.json()["member"]["member_number"] == n
    visit_until = datetime.datetime.fromisoformat(linked.json()["visit_until"])
    assert datetime.timedelta(minutes=14) < visit_until - timezone.now() <= datetime.timedelta(minutes=15)
    # linked: B reads the member as A does
    assert partner_b.get(f"/api/v1/members/{n}/").status_code == 200
    assert partner_b.get("/api/v1/members/lookup/?phone=13812345678").json()["member_number"] == n
    assert partner_b.get(f"/api/v1/members/{n}/balances/").status_code == 200
    # in the visit: spends (2,000 of the 4,000 points) and redeems A's coupon at its own store
    spent = spend(partner_b, a_world)
    assert spent.status_code == 201, spent.json()
    assert points_left(n) == 2000
    basket = {"store": "B001", "amount": "120.00", "order_number": "B-COUPON-1"}
    coupon = partner_b.post("/api/v1/coupons/redeem/", {"code": a_world["coupon"], **basket})
    assert coupon.status_code == 200, coupon.json()
    assert Coupon.objects.get(code=coupon.json()["coupon"]["code"]).status == Coupon.Status.REDEEMED
    # A (first-party: it sees the member) may not undo B's redemption: as if there were none
    undo = partner_a.post(VOID, {"code": a_world["coupon"], "reason": "undo"})
    assert (undo.status_code, undo.json()["code"]) == NOT_FOUND
    assert Coupon.objects.get(code=a_world["coupon"]).status == Coupon.Status.REDEEMED

    close_visits()
    # the link is no standing licence to spend ...
    refused = spend(partner_b, a_world)
    assert (refused.status_code, refused.json()["code"]) == CODE_REQUIRED
    assert points_left(n) == 2000
    new_coupon = spent.json()["redemption"]["coupon"]["code"]
    refused_coupon = partner_b.post(
        "/api/v1/coupons/redeem/", {"code": new_coupon, "store": "B001", "amount": "120.00"}
    )
    assert (refused_coupon.status_code, refused_coupon.json()["code"]) == CODE_REQUIRED
    assert Coupon.objects.get(code=new_coupon).status == Coupon.Status.ISSUED
    # ... but reading and earning go on as for any member B serves
    assert partner_b.get(f"/api/v1/members/{n}/").status_code == 200
    earned = partner_b.post(
        "/api/v1/purchases/",
        {
            "member_number": n,
            "order_number": "B-1",
            "channel": "store",
            "store": "B001",
            "occurred_at": a_world["at"],
            "gross_amount": "50.00",
            "paid_amount": "50.00",
        },
    )
    assert earned.status_code == 201, earned.json()
    # a new code, a new visit
    assert link(partner_b, issue_code(partner_a, n)).status_code == 200
    assert spend(partner_b, a_world).status_code == 201
    assert points_left(n) == 0


def test_a_linked_third_party_may_not_change_who_the_member_is(partner_a, partner_b, a_world):
    n = a_world["number"]
    assert link(partner_b, issue_code(partner_a, n)).status_code == 200
    before = snapshot()
    moved = partner_b.patch(f"/api/v1/members/{n}/", {"mobile": "13900000000"})
    assert moved.status_code == 403
    assert moved.json()["code"] == "first_party_only"
    assert set(moved.json()["fields"]) == {"mobile"}
    card = partner_b.post(
        "/api/v1/members/", {"mobile": "13812345678", "identities": [{"kind": "openid", "value": "o-B"}]}
    )
    assert (card.status_code, card.json()["code"]) == (403, "first_party_only")
    assert set(card.json()["fields"]) == {"identities"}
    assert snapshot() == before
    # what is not a change is fine: its current mobile, enrol-or-find of a member B sees
    same = partner_b.patch(f"/api/v1/members/{n}/", {"mobile": "138 1234 5678", "city": "苏州"})
    assert same.status_code == 200, same.json()
    found = partner_b.post("/api/v1/members/", {"mobile": "13812345678"})
    assert (found.status_code, found.json()["member_number"]) == (200, n)
    # the brand's own POS may
    assert partner_a.patch(f"/api/v1/members/{n}/", {"mobile": "13900000000"}).status_code == 200
    assert Member.objects.get(member_number=n).mobile.as_e164 == "+8613900000000"


def test_expired_reused_and_unknown_codes_are_refused_alike(partner_a, partner_b, a_world):
    n = a_world["number"]
    used = issue_code(partner_a, n)
    assert link(partner_b, used).status_code == 200
    expired = issue_code(partner_a, n)
    MemberCode.objects.filter(redeemed_at__isnull=True).update(expires_at=timezone.now())
    PartnerMember.objects.filter(partner=partner_b.partner).delete()  # B starts over
    before = snapshot()
    answers = [link(partner_b, code) for code in (used, expired, GUESSED_CODE)]
    assert {(r.status_code, r.content) for r in answers} == {(answers[0].status_code, answers[0].content)}
    assert answers[0].status_code == 422
    assert answers[0].json()["code"] == "member_code_invalid"
    assert set(answers[0].json()["fields"]) == {"member_code"}
    assert snapshot() == before
    assert partner_b.get(f"/api/v1/members/{n}/").status_code == 404


def test_a_code_issued_by_a_third_party_partner_is_refused(partner_a, partner_b, a_world):
    """B cannot issue codes; and codes A issued while it was first-party are worth nothing once
    the operator makes A third-party."""
    mine = partner_b.post("/api/v1/members/", {"mobile": "13900000001"}).json()["member_number"]
    refused = partner_b.post(f"/api/v1/members/{mine}/codes/", {})
    assert (refused.status_code, refused.json()["code"]) == (403, "first_party_only")
    assert not MemberCode.objects.exists()
    code = issue_code(partner_a, a_world["number"])
    partner_a.partner.kind = PartnerKind.THIRD_PARTY
    partner_a.partner.save()
    demoted = link(partner_b, code)
    assert (demoted.status_code, demoted.json()["code"]) == (422, "member_code_invalid")
    assert demoted.content == link(partner_b, GUESSED_CODE).content
    assert partner_b.get(f"/api/v1/members/{a_world['number']}/").status_code == 404


def test_a_first_party_partner_sees_every_member(partner_a, partner_b, voucher):
    """A (the brand's POS) reaches B's member without a code: read, find, spend, change."""
    n = partner_b.post("/api/v1/members/", {"mobile": "13900000001"}).json()["member_number"]
    give_points(Member.objects.get(member_number=n), 2000, at=timezone.now() - datetime.timedelta(days=1))
    assert partner_a.get(f"/api/v1/members/{n}/").status_code == 200
    assert partner_a.get("/api/v1/members/lookup/?phone=13900000001").json()["member_number"] == n
    assert n in {m["member_number"] for m in partner_a.get("/api/v1/members/").json()["results"]}
    found = partner_a.post("/api/v1/members/", {"mobile": "13900000001"})
    assert (found.status_code, found.json()["member_number"]) == (200, n)
    spent = partner_a.post(f"/api/v1/rewards/{voucher.pk}/redeem/", {"member_number": n})
    assert spent.status_code == 201, spent.json()
    assert partner_a.patch(f"/api/v1/members/{n}/", {"mobile": "13900000002"}).status_code == 200
