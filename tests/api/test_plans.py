"""Selling a paid plan through the API: the brand's app orders it, the brand's payment system
reports the payment with a signed notice, the member holds the plan; renewed by a second order,
ended early with the refund its terms give, computed by hand."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from benefits.models import Benefit, Entitlement
from members.partners.models import Grant
from tests.api.conftest import PartnerClient, make_partner
from tests.factories import MemberFactory
from tests.tiers import conftest as tiers_fixtures
from tests.tiers.conftest import local
from tiers.models import MemberTier, Plan, PlanOrder, RefundPolicy, Subscription
from tiers.orders import plan_orders_expire_due

pytestmark = pytest.mark.django_db

ladder = tiers_fixtures.ladder  # 普通会员, 银卡, 金卡 ×1.5, 钻石
clock = tiers_fixtures.clock  # 1 Feb 2031, 10:00, moved by the tests
SECRET = "pay-notify-secret-for-tests"
NOTIFY = "/api/v1/payments/notify/"


@pytest.fixture(autouse=True)
def notify_secret(settings):
    settings.PAYMENT_NOTIFY_SECRET = SECRET
    settings.PAYMENT_NOTIFY_PREVIOUS_SECRET = ""


@pytest.fixture
def plus(ladder) -> Plan:
    return Plan.objects.create(
        code="plus",
        name="PLUS会员",
        price=Decimal("199.00"),
        tier=ladder["gold"],
        refund_policy=RefundPolicy.DAYS,
    )


def sign(raw: bytes, secret: str = SECRET, at: datetime.datetime | None = None) -> str:
    """What the payment system sends, written from docs/api.md's recipe."""
    stamp = str(int((at or timezone.now()).timestamp()))
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def notify(body: dict | str, *, secret: str = SECRET, at=None, header: str | None = None):
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    headers = {"HTTP_ACCEPT_LANGUAGE": "en"}  # messages follow the request's language (zh-hans by default)
    if header != "":
        headers["HTTP_X_LOYALTY_SIGNATURE"] = header or sign(raw, secret, at)
    return APIClient().generic("POST", NOTIFY, raw, content_type="application/json", **headers)


def order_for(client: PartnerClient, member, plan: str = "plus") -> dict:
    response = client.post(f"/api/v1/plans/{plan}/orders/", {"member_number": member.member_number})
    assert response.status_code == 201, response.json()
    return response.json()


def paid(order: dict, ref: str, **fields) -> dict:
    return {
        "order_number": order["order_number"],
        "payment_ref": ref,
        "amount": order["amount"],
        "currency": "CNY",
        "paid_at": timezone.now().isoformat(),
        **fields,
    }


def tier_of(member) -> tuple[str, str]:
    status = MemberTier.objects.select_related("tier").get(member=member)
    return status.tier.code, status.source


def test_a_plan_sold_paid_renewed_and_ended_with_its_refund(partner_a, plus, clock):
    member = MemberFactory()
    plans = partner_a.get("/api/v1/plans/").json()
    assert [(p["code"], p["price"], p["refund_policy"], p["tier"]["code"]) for p in plans] == [
        ("plus", "199.00", "days", "gold")
    ]
    order = order_for(partner_a, member)
    assert (order["status"], order["amount"], order["currency"], order["subscription"]) == (
        "pending",
        "199.00",
        "CNY",
        None,
    )
    assert order["order_number"].startswith("PO20310201") and len(order["order_number"]) == 20
    assert order["expires_at"] == "2031-02-01T10:30:00+08:00"  # 30 minutes to pay

    answer = notify(paid(order, "WX-4200001"))
    assert answer.status_code == 200, answer.json()
    assert answer.json() == {
        "order_number": order["order_number"],
        "status": "paid",
        "payment_ref": "WX-4200001",
        "amount": "199.00",
        "currency": "CNY",
        "paid_at": "2031-02-01T10:00:00+08:00",
        "starts_at": "2031-02-01T10:00:00+08:00",
        "paid_until": "2032-02-01T10:00:00+08:00",
    }
    assert tier_of(member) == ("gold", "plan")
    # the payment system sends it again (its answer was lost): the same answer, one period
    again = notify(paid(order, "WX-4200001"))
    assert (again.status_code, again.content) == (200, answer.content)
    assert Subscription.objects.count() == 1
    shown = partner_a.get(f"/api/v1/plan-orders/{order['order_number']}/").json()
    assert shown["status"] == "paid" and shown["payment_ref"] == "WX-4200001"
    assert shown["subscription"]["refund_if_cancelled_now"] == "199.00"  # not a day used yet

    # renewed ahead: a second order for the same plan pays the next year
    clock.move(days=30)
    renewal = order_for(partner_a, member)
    assert notify(paid(renewal, "WX-4200002")).json()["starts_at"] == "2032-02-01T10:00:00+08:00"
    assert Subscription.objects.get(payment_ref="WX-4200002").renewal_of.payment_ref == "WX-4200001"

    # 100 days after the start: 199 × 100/365 = 54.52 used, 144.48 back; the renewal's 199.00 too
    clock.now = local(2031, 5, 12, 10, 0)
    shown = partner_a.get(f"/api/v1/plan-orders/{order['order_number']}/").json()
    assert shown["subscription"]["refund_if_cancelled_now"] == "343.48"
    ended = partner_a.post(
        f"/api/v1/plan-orders/{order['order_number']}/cancel/",
        {"reason": "会员申请退款", "immediately": True},
    )
    assert ended.status_code == 200, ended.json()
    period = ended.json()["subscription"]
    assert (period["status"], period["refund_amount"], period["ends_at"]) == (
        "cancelled",
        "144.48",
        "2031-05-12T10:00:00+08:00",
    )
    assert period["refund_if_cancelled_now"] is None
    later = partner_a.get(f"/api/v1/plan-orders/{renewal['order_number']}/").json()["subscription"]
    assert (later["status"], later["refund_amount"]) == ("cancelled", "199.00")
    assert tier_of(member) == ("member", "earned")
    again = partner_a.post(f"/api/v1/plan-orders/{order['order_number']}/cancel/", {"reason": "again"})
    assert (again.status_code, again.json()["code"]) == (422, "not_cancellable")


def test_a_forged_missing_or_stale_signature_is_refused_and_changes_nothing(partner_a, plus, clock):
    order = order_for(partner_a, MemberFactory())
    body = paid(order, "WX-1")
    for response in (
        partner_a.post(NOTIFY, body),  # a partner's key is no signature
        notify(body, secret="guessed"),
        notify(body, header=""),
        notify(body, header="t=1,v1=00"),
        notify(body, at=timezone.now() - datetime.timedelta(minutes=6)),  # a replay of an old one
        notify(body, header=sign(json.dumps({**body, "amount": "1.00"}).encode())),  # another body's
    ):
        assert response.status_code == 401
        assert response.json() == {
            "code": "signature_invalid",
            "message": "The signature is missing or wrong, or its timestamp is more than 5 minutes off.",
            "fields": {},
        }
    assert not Subscription.objects.exists()
    assert PlanOrder.objects.get().status == "pending"
    assert not MemberTier.objects.exists()


def test_no_secret_set_refuses_every_notice(partner_a, plus, clock, settings):
    order = order_for(partner_a, MemberFactory())
    settings.PAYMENT_NOTIFY_SECRET = ""
    assert notify(paid(order, "WX-1"), secret="").status_code == 401


def test_the_previous_secret_still_signs_during_a_rotation(partner_a, plus, clock, settings):
    order = order_for(partner_a, MemberFactory())
    settings.PAYMENT_NOTIFY_SECRET, settings.PAYMENT_NOTIFY_PREVIOUS_SECRET = "new-secret", SECRET
    assert notify(paid(order, "WX-1")).status_code == 200


def test_an_amount_that_is_not_the_orders_is_refused(partner_a, plus, clock):
    order = order_for(partner_a, MemberFactory())
    for body in (paid(order, "WX-1", amount="19.90"), paid(order, "WX-1", currency="USD")):
        response = notify(body)
        assert (response.status_code, response.json()["code"]) == (422, "amount_mismatch")
        assert list(response.json()["fields"]) == ["amount"]
    assert not Subscription.objects.exists() and PlanOrder.objects.get().status == "pending"


def test_malformed_notices_are_400_naming_the_field_and_unknown_orders_404(partner_a, plus, clock):
    order = order_for(partner_a, MemberFactory())
    response = notify(paid(order, "WX-1", amount=199, paid_at="2031-02-01 10:00"))
    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    assert set(response.json()["fields"]) == {"amount", "paid_at"}
    assert notify("{not json").json()["code"] == "parse_error"
    before = notify(paid(order, "WX-1", paid_at="2031-02-01T09:54:59+08:00"))  # 5 min before the order
    assert (before.status_code, list(before.json()["fields"])) == (400, ["paid_at"])
    unknown = notify(paid({**order, "order_number": "PO203102019999999999"}, "WX-1"))
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    assert APIClient().get(NOTIFY).status_code == 405


def test_a_second_payment_or_a_reference_used_elsewhere_is_refused(partner_a, plus, clock):
    first, second = order_for(partner_a, MemberFactory()), order_for(partner_a, MemberFactory())
    assert notify(paid(first, "WX-1")).status_code == 200
    twice = notify(paid(first, "WX-2"))
    assert (twice.status_code, twice.json()["code"]) == (422, "order_already_paid")
    reused = notify(paid(second, "WX-1"))
    assert (reused.status_code, reused.json()["code"]) == (409, "conflict")
    assert "WX-1" in reused.json()["message"]
    assert Subscription.objects.count() == 1
    assert PlanOrder.objects.get(order_number=second["order_number"]).status == "pending"


def test_cancelled_orders_refuse_their_payment_and_expired_ones_take_it(partner_a, plus, clock):
    cancelled, late = order_for(partner_a, MemberFactory()), order_for(partner_a, MemberFactory())
    response = partner_a.post(
        f"/api/v1/plan-orders/{cancelled['order_number']}/cancel/", {"reason": "不要了"}
    )
    assert response.json()["status"] == "cancelled"
    refused = notify(paid(cancelled, "WX-1"))
    assert (refused.status_code, refused.json()["code"]) == (422, "order_cancelled")
    clock.move(minutes=31)
    assert partner_a.get(f"/api/v1/plan-orders/{late['order_number']}/").json()["status"] == "expired"
    assert plan_orders_expire_due() == 1 and plan_orders_expire_due() == 0
    again = partner_a.post(f"/api/v1/plan-orders/{cancelled['order_number']}/cancel/", {"reason": "x"})
    assert (again.status_code, again.json()["code"]) == (422, "invalid_transition")
    assert notify(paid(late, "WX-2")).status_code == 200  # the customer paid: it is recorded
    assert PlanOrder.objects.get(order_number=late["order_number"]).status == "paid"
    assert Subscription.objects.count() == 1


def test_an_expired_order_the_app_gave_up_on_refuses_its_payment(partner_a, plus, clock):
    order = order_for(partner_a, MemberFactory())
    clock.move(minutes=31)
    plan_orders_expire_due()
    response = partner_a.post(f"/api/v1/plan-orders/{order['order_number']}/cancel/", {"reason": "超时未付"})
    assert (response.status_code, response.json()["status"]) == (200, "cancelled")
    refused = notify(paid(order, "WX-1"))
    assert (refused.status_code, refused.json()["code"]) == (422, "order_cancelled")
    assert not Subscription.objects.exists()


def test_a_plan_not_on_sale_or_a_closed_member_gets_no_order(partner_a, plus, clock):
    plus.active = False
    plus.save()
    member = MemberFactory()
    response = partner_a.post("/api/v1/plans/plus/orders/", {"member_number": member.member_number})
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert partner_a.get("/api/v1/plans/").json() == []
    plus.active = True
    plus.save()
    type(member).objects.filter(pk=member.pk).update(status="closed")
    response = partner_a.post("/api/v1/plans/plus/orders/", {"member_number": member.member_number})
    assert (response.status_code, response.json()["code"]) == (422, "member_closed")
    assert not PlanOrder.objects.exists()


def test_a_paid_plans_earn_multiplier_counts_on_the_next_purchase(partner_a, plus, clock):
    """PLUS holds a ×2 benefit (higher than 金卡's own ×1.5): ¥100 earns 200 积分, 100 成长值."""
    benefit = Benefit.objects.create(name="PLUS双倍积分", kind=Benefit.Kind.EARN_MULTIPLIER, value=Decimal(2))
    Entitlement.objects.create(benefit=benefit, plan=plus, period=Entitlement.Period.MONTHLY)
    member = MemberFactory()
    assert notify(paid(order_for(partner_a, member), "WX-1")).status_code == 200
    clock.move(hours=1)
    purchase = partner_a.post(
        "/api/v1/purchases/",
        {"member_number": member.member_number, "order_number": "S-1", "channel": "store", "store": "A001",
         "occurred_at": (timezone.now() - datetime.timedelta(minutes=10)).isoformat(),
         "gross_amount": "100.00", "paid_amount": "100.00"},
    )  # fmt: skip
    assert purchase.status_code == 201, purchase.json()
    award = purchase.json()["award"]
    assert award["totals"] == {"points": 200, "growth": 100}
    assert any("PLUS会员 PLUS双倍积分 ×2" in line["explanation"] for line in award["lines"])


def test_orders_need_the_grant_and_are_the_partners_own(partner_a, partner_b, plus, clock):
    order = order_for(partner_a, MemberFactory())
    assert partner_b.get(f"/api/v1/plan-orders/{order['order_number']}/").status_code == 404
    assert partner_a.get("/api/v1/plan-orders/PO-not-a-number/").status_code == 404
    partner, key = make_partner("no-sell", "N001", grants=[Grant.TIERS_READ])
    seller = PartnerClient(key, partner)
    response = seller.post("/api/v1/plans/plus/orders/", {"member_number": MemberFactory().member_number})
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert seller.get("/api/v1/plans/").status_code == 200
