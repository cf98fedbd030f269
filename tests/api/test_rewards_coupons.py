"""Rewards, redemptions and coupons through the API: points move through the ledger services,
retries are one redemption, and other partners' members, redemptions and coupons are 404."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from benefits.coupons import coupon_issue
from benefits.models import Coupon, Redemption, Reward
from benefits.rewards import reward_redeem
from members.partners.models import Grant
from members.partners.services import member_link
from points.models import Account
from points.selectors import ledger_problems
from tests.api.conftest import PartnerClient, make_partner
from tests.benefits import conftest as benefits_fixtures
from tests.benefits.conftest import give_points
from tests.factories import MemberFactory
from tests.tiers import conftest as tiers_fixtures

pytestmark = pytest.mark.django_db

# reused from tests/benefits: 满100减20 (amount off, a 2,000-point coupon reward), 包邮券, a tote bag
twenty_off = benefits_fixtures.twenty_off
voucher = benefits_fixtures.voucher
tote = benefits_fixtures.tote
free_shipping = benefits_fixtures.free_shipping
ladder = tiers_fixtures.ladder

REWARDS = "/api/v1/rewards/"
REDEMPTIONS = "/api/v1/redemptions/"
#: the conftest's 满100减20 as the API shows it: no condition but its minimum spend
TWENTY_OFF = {
    "name": "满100减20",
    "kind": "amount_off",
    "value": "20.00",
    "max_discount": None,
    "min_spend": "100.00",
    "conditions": "",
    "categories": [],
    "skus": [],
    "excluded_categories": [],
    "excluded_skus": [],
    "channels": [],
    "weekdays": [],
    "hour_from": None,
    "hour_to": None,
}


@pytest.fixture(autouse=True)
def books_balance(db):
    yield
    assert ledger_problems() == {}


def member_of(client: PartnerClient, points: int = 0):
    member = MemberFactory()
    member_link(partner=client.partner, member=member)
    if points:
        give_points(member, points, at=timezone.now() - datetime.timedelta(days=1))
    return member


def available(member) -> int:
    return Account.objects.get(member=member, point_type__code="points").available


def redeem(client, reward, member, idempotency_key: str | None = "new", **body):
    return client.post(
        f"{REWARDS}{reward.pk}/redeem/",
        {"member_number": member.member_number, **body},
        idempotency_key=idempotency_key,
    )


def points_of(body) -> int:
    return next(b for b in body["balances"] if b["point_type"] == "points")["available"]


# --- catalogue -------------------------------------------------------------------------------


def test_the_catalogue_is_what_is_on_offer(partner_a, voucher, tote, ladder):
    now = timezone.now()
    Reward.objects.create(name="下架", kind=Reward.Kind.PHYSICAL, points_price=10, active=False)
    Reward.objects.create(
        name="过期", kind=Reward.Kind.PHYSICAL, points_price=10, valid_until=now - datetime.timedelta(days=1)
    )
    later = Reward.objects.create(
        name="未开始", kind=Reward.Kind.PHYSICAL, points_price=10, valid_from=now + datetime.timedelta(days=1)
    )
    tote.min_tier = ladder["gold"]
    tote.save()

    listed = partner_a.get(REWARDS).json()["results"]
    assert sorted(r["id"] for r in listed) == sorted([voucher.pk, tote.pk])
    assert [r["id"] for r in partner_a.get(REWARDS, {"kind": "physical"}).json()["results"]] == [tote.pk]
    assert [r["id"] for r in partner_a.get(REWARDS, {"max_points": 2500}).json()["results"]] == [voucher.pk]
    assert partner_a.get(REWARDS, {"kind": "nope"}).status_code == 400

    detail = partner_a.get(f"{REWARDS}{voucher.pk}/").json()
    assert detail == {
        "id": voucher.pk,
        "name": "满100减20券",
        "kind": "coupon",
        "points_price": 2000,
        "stock": None,
        "per_member_limit": None,
        "min_tier": None,
        "benefit": {**TWENTY_OFF, "valid_days": 60},
        "valid_from": None,
        "valid_until": None,
    }
    gift = partner_a.get(f"{REWARDS}{tote.pk}/").json()
    assert (gift["stock"], gift["min_tier"], gift["benefit"]) == (5, {"code": "gold", "name": "金卡"}, None)
    assert partner_a.get(f"{REWARDS}{later.pk}/").status_code == 404


# --- redeeming rewards -----------------------------------------------------------------------


def test_redeem_spends_points_and_returns_the_coupon(partner_a, voucher):
    member = member_of(partner_a, 10_000)
    response = redeem(partner_a, voucher, member)
    assert response.status_code == 201, response.json()
    body = response.json()
    redemption = Redemption.objects.get()
    coupon = Coupon.objects.get(member=member)
    shown = body["redemption"]
    assert {k: shown[k] for k in ("id", "member_number", "reward", "points", "status")} == {
        "id": redemption.pk,
        "member_number": member.member_number,
        "reward": {"id": voucher.pk, "name": "满100减20券", "kind": "coupon"},
        "points": 2000,
        "status": "completed",
    }
    assert shown["coupon"]["code"] == coupon.code
    assert (shown["coupon"]["status"], shown["coupon"]["origin"]) == ("issued", "reward")
    assert shown["coupon"]["benefit"]["value"] == "20.00"
    assert points_of(body) == available(member) == 8000
    assert redemption.actor == partner_a.partner.user  # recorded as the partner's doing
    assert redemption.spend.actor == partner_a.partner.user


def test_a_retry_with_the_same_key_is_the_same_redemption(partner_a, voucher):
    member = member_of(partner_a, 10_000)
    first = redeem(partner_a, voucher, member, idempotency_key="order-42")
    again = redeem(partner_a, voucher, member, idempotency_key="order-42")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Redemption.objects.count() == 1 and available(member) == 8000
    assert Redemption.objects.get().idempotency_key == f"api:{partner_a.partner.pk}:order-42"
    # the same key for another request is a conflict, not a second redemption
    conflict = redeem(partner_a, voucher, member, ship_to="上海", idempotency_key="order-42")
    assert conflict.status_code == 409
    assert Redemption.objects.count() == 1


def test_a_long_idempotency_key_is_hashed_for_the_redemption(partner_a, voucher):
    member = member_of(partner_a, 10_000)
    response = redeem(partner_a, voucher, member, idempotency_key="k" * 200)
    assert response.status_code == 201, response.json()
    key = Redemption.objects.get().idempotency_key
    assert len(key) <= 90 and key.startswith(f"api:{partner_a.partner.pk}:")


def test_a_physical_gift_waits_for_fulfilment(partner_a, tote):
    member = member_of(partner_a, 10_000)
    body = redeem(partner_a, tote, member, ship_to="上海市徐汇区").json()
    assert (body["redemption"]["status"], body["redemption"]["coupon"]) == ("requested", None)
    assert body["redemption"]["ship_to"] == "上海市徐汇区"
    assert Reward.objects.get(pk=tote.pk).stock == 4


def test_rules_refuse_with_422_and_nothing_moves(partner_a, voucher, tote, ladder):
    member = member_of(partner_a, 2500)
    poor = member_of(partner_a, 100)
    Reward.objects.filter(pk=tote.pk).update(stock=0)
    limited = Reward.objects.create(
        name="限兑", kind=Reward.Kind.COUPON, points_price=100, per_member_limit=1, benefit=voucher.benefit
    )
    gold_only = Reward.objects.create(
        name="金卡专享", kind=Reward.Kind.COUPON, points_price=100, min_tier=ladder["gold"],
        benefit=voucher.benefit,
    )  # fmt: skip
    gone = Reward.objects.create(name="下架", kind=Reward.Kind.PHYSICAL, points_price=10, active=False)
    assert redeem(partner_a, limited, member).status_code == 201
    cases = [
        (voucher, poor, "insufficient_points"),
        (tote, member, "out_of_stock"),
        (limited, member, "limit_reached"),
        (gold_only, member, "tier_required"),
        (gone, member, "reward_unavailable"),
    ]
    for reward, who, code in cases:
        response = redeem(partner_a, reward, who)
        assert response.status_code == 422, (code, response.json())
        assert response.json()["code"] == code
        assert response.json()["message"]
    assert Redemption.objects.count() == 1
    assert (available(member), available(poor)) == (2400, 100)


def test_redeem_input_is_checked(partner_a, partner_b, voucher):
    member = member_of(partner_a, 10_000)
    unknown = partner_a.post(
        f"{REWARDS}{voucher.pk}/redeem/", {"member_number": member.member_number, "points": 1}
    )
    assert unknown.status_code == 400 and set(unknown.json()["fields"]) == {"points"}
    assert partner_a.post(f"{REWARDS}{voucher.pk}/redeem/", {}).json()["fields"].keys() == {"member_number"}
    assert redeem(partner_a, Reward(pk=999_999), member).status_code == 404
    missing_key = redeem(partner_a, voucher, member, idempotency_key=None)
    assert missing_key.status_code == 400 and missing_key.json()["code"] == "idempotency_key_missing"
    # another partner cannot spend partner A's member's points
    assert redeem(partner_b, voucher, member).status_code == 404
    assert Redemption.objects.count() == 0 and available(member) == 10_000


# --- redemptions -----------------------------------------------------------------------------


def test_cancel_refunds_the_points_and_voids_the_coupon(partner_a, voucher):
    member = member_of(partner_a, 10_000)
    redemption_id = redeem(partner_a, voucher, member).json()["redemption"]["id"]
    assert available(member) == 8000
    response = partner_a.post(f"{REDEMPTIONS}{redemption_id}/cancel/", {"reason": "顾客改主意"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["redemption"]["status"] == "cancelled"
    assert body["redemption"]["coupon"]["status"] == "voided"
    assert points_of(body) == available(member) == 10_000
    redemption = Redemption.objects.get()
    assert (redemption.note, redemption.refund.actor) == ("顾客改主意", partner_a.partner.user)
    again = partner_a.post(f"{REDEMPTIONS}{redemption_id}/cancel/", {"reason": "again"})
    assert (again.status_code, again.json()["code"]) == (422, "not_cancellable")
    no_reason = partner_a.post(f"{REDEMPTIONS}{redemption_id}/cancel/", {})
    assert no_reason.status_code == 400 and set(no_reason.json()["fields"]) == {"reason"}
    assert available(member) == 10_000


def test_a_used_coupon_cannot_be_cancelled(partner_a, voucher):
    member = member_of(partner_a, 10_000)
    body = redeem(partner_a, voucher, member).json()["redemption"]
    code = body["coupon"]["code"]
    used = partner_a.post("/api/v1/coupons/redeem/", {"code": code, "store": "A001", "amount": "100"})
    assert used.status_code == 200, used.json()
    refused = partner_a.post(f"{REDEMPTIONS}{body['id']}/cancel/", {"reason": "too late"})
    assert (refused.status_code, refused.json()["code"]) == (422, "not_cancellable")
    assert available(member) == 8000


def test_the_partners_redemptions(partner_a, voucher, tote, operator):
    member = member_of(partner_a, 20_000)
    other = member_of(partner_a, 20_000)
    first = redeem(partner_a, voucher, member).json()["redemption"]
    second = redeem(partner_a, tote, other).json()["redemption"]
    reward_redeem(member=member, reward=voucher, idempotency_key="back-office", actor=operator)  # not A's

    listed = partner_a.get(REDEMPTIONS).json()["results"]
    assert [r["id"] for r in listed] == [second["id"], first["id"]]
    assert listed[1] == first
    by_member = partner_a.get(REDEMPTIONS, {"member_number": member.member_number}).json()["results"]
    assert [r["id"] for r in by_member] == [first["id"]]
    requested = partner_a.get(REDEMPTIONS, {"status": "requested"}).json()["results"]
    assert [r["id"] for r in requested] == [second["id"]]
    assert partner_a.get(f"{REDEMPTIONS}{first['id']}/").json() == first
    back_office = Redemption.objects.get(idempotency_key="back-office")
    assert partner_a.get(f"{REDEMPTIONS}{back_office.pk}/").status_code == 404


def test_another_partners_redemption_is_not_found_and_stays(partner_a, partner_b, voucher):
    member = member_of(partner_a, 10_000)
    redemption_id = redeem(partner_a, voucher, member).json()["redemption"]["id"]
    assert partner_b.get(REDEMPTIONS).json()["results"] == []
    assert partner_b.get(f"{REDEMPTIONS}{redemption_id}/").status_code == 404
    response = partner_b.post(f"{REDEMPTIONS}{redemption_id}/cancel/", {"reason": "hijack"})
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "Not found.", "fields": {}}
    redemption = Redemption.objects.get()
    assert (redemption.status, redemption.refund_id, redemption.coupon.status) == (
        "completed",
        None,
        "issued",
    )
    assert available(member) == 8000


# --- coupons ---------------------------------------------------------------------------------


@pytest.fixture
def coupon(partner_a, free_shipping) -> Coupon:
    return coupon_issue(member_of(partner_a), benefit=free_shipping, origin=Coupon.Origin.MANUAL)


def test_a_members_coupons(partner_a, coupon, twenty_off):
    member = coupon.member
    used = coupon_issue(member, benefit=twenty_off, origin=Coupon.Origin.MANUAL)
    redeemed = partner_a.post(
        "/api/v1/coupons/redeem/", {"code": used.code, "store": "A001", "amount": "150"}
    )
    assert redeemed.status_code == 200, redeemed.json()
    url = f"/api/v1/members/{member.member_number}/coupons/"
    listed = partner_a.get(url).json()["results"]
    assert [c["code"] for c in listed] == [used.code, coupon.code]
    used.refresh_from_db()
    tz = timezone.get_current_timezone()
    assert listed[0] == {
        "code": used.code,
        "benefit": TWENTY_OFF,
        "status": "redeemed",
        "origin": "manual",
        "valid_from": used.valid_from.astimezone(tz).isoformat(),
        "valid_until": used.valid_until.astimezone(tz).isoformat(),
        "redeemed_at": used.redeemed_at.astimezone(tz).isoformat(),
        "redeemed_store": "A001",
    }
    assert (listed[1]["status"], listed[1]["redeemed_at"], listed[1]["redeemed_store"]) == (
        "issued",
        None,
        None,
    )
    issued = partner_a.get(url, {"status": "issued"}).json()["results"]
    assert [c["code"] for c in issued] == [coupon.code]


def test_validate_changes_nothing(partner_a, coupon):
    typed = coupon.display_code.lower()  # as staff type it: groups, lower case
    response = partner_a.post(
        "/api/v1/coupons/validate/", {"code": typed, "store": "A001"}, idempotency_key=None
    )
    assert response.status_code == 200, response.json()
    assert (response.json()["redeemable"], response.json()["reason"]) == (True, "")
    assert response.json()["coupon"]["code"] == coupon.code
    coupon.refresh_from_db()
    assert coupon.status == "issued"

    an_hour_ago = timezone.now() - datetime.timedelta(hours=1)
    Coupon.objects.filter(pk=coupon.pk).update(
        valid_from=an_hour_ago - datetime.timedelta(days=30), valid_until=an_hour_ago
    )
    expired = partner_a.post("/api/v1/coupons/validate/", {"code": coupon.code, "store": "A001"}).json()
    assert expired["redeemable"] is False and expired["reason"].startswith("Expired on")


def test_coupon_redeem_once_at_the_partners_store(partner_a, coupon):
    response = partner_a.post("/api/v1/coupons/redeem/", {"code": coupon.display_code, "store": "A001"})
    assert response.status_code == 200, response.json()
    assert (response.json()["coupon"]["status"], response.json()["coupon"]["redeemed_store"]) == (
        "redeemed",
        "A001",
    )
    coupon.refresh_from_db()
    assert (coupon.status, coupon.redeemed_by) == ("redeemed", partner_a.partner.user)
    again = partner_a.post("/api/v1/coupons/redeem/", {"code": coupon.code, "store": "A001"})
    assert (again.status_code, again.json()["code"]) == (422, "coupon_not_redeemable")
    assert again.json()["message"].startswith("Already redeemed at")
    check = partner_a.post("/api/v1/coupons/validate/", {"code": coupon.code, "store": "A001"}).json()
    assert check["redeemable"] is False and check["reason"] == again.json()["message"]


def test_coupon_input_is_checked(partner_a, coupon):
    for path in ("/api/v1/coupons/validate/", "/api/v1/coupons/redeem/"):
        other_store = partner_a.post(path, {"code": coupon.code, "store": "B001"})
        assert other_store.status_code == 400, path
        assert set(other_store.json()["fields"]) == {"store"}
        unknown = partner_a.post(path, {"code": "ABCD-EFGH-JKMN-PQRS", "store": "A001"})
        assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found"), path
        extra = partner_a.post(path, {"code": coupon.code, "store": "A001", "member": "x"})
        assert extra.status_code == 400 and set(extra.json()["fields"]) == {"member"}
    coupon.refresh_from_db()
    assert coupon.status == "issued"


def test_another_partners_members_coupons_are_not_found(partner_a, partner_b, coupon):
    member = coupon.member
    assert partner_b.get(f"/api/v1/members/{member.member_number}/coupons/").status_code == 404
    for path in ("/api/v1/coupons/validate/", "/api/v1/coupons/redeem/"):
        response = partner_b.post(path, {"code": coupon.code, "store": "B001"})
        assert response.status_code == 404, path
        assert response.json() == {"code": "not_found", "message": "Not found.", "fields": {}}
    coupon.refresh_from_db()
    assert (coupon.status, coupon.redeemed_at) == ("issued", None)


def test_each_endpoint_needs_its_grant(db, voucher):
    partner, key = make_partner("ro", "R001", grants=[Grant.REWARDS_READ, Grant.COUPONS_READ])
    client = PartnerClient(key, partner)
    member = member_of(client, 10_000)
    assert client.get(REWARDS).status_code == 200
    assert redeem(client, voucher, member).status_code == 403
    coupon = coupon_issue(member, benefit=voucher.benefit, origin=Coupon.Origin.MANUAL)
    assert client.post("/api/v1/coupons/validate/", {"code": coupon.code, "store": "R001"}).status_code == 200
    assert client.post("/api/v1/coupons/redeem/", {"code": coupon.code, "store": "R001"}).status_code == 403
    assert Redemption.objects.count() == 0 and available(member) == 10_000
