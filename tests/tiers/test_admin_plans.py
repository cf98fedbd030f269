"""Paid membership in the admin: an operator records a payment as a subscription, ends one early
after reading its refund, and finds the API's orders; finance and store staff cannot."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from tests.api.conftest import make_partner
from tests.conftest import login
from tests.factories import MemberFactory
from tests.tiers.conftest import local
from tiers.models import MemberTier, Plan, PlanOrder, RefundPolicy, Subscription
from tiers.orders import plan_order_create
from tiers.subscriptions import subscription_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def plus(ladder) -> Plan:
    return Plan.objects.create(
        code="plus",
        name="PLUS会员",
        price=Decimal("199.00"),
        tier=ladder["gold"],
        refund_policy=RefundPolicy.DAYS,
    )


def payment_form(member, plan, **fields) -> dict[str, str]:
    return {
        "member": str(member.pk),
        "plan": str(plan.pk),
        "payment_ref": "POS-20310201-0001",
        "price": "199.00",
        "paid_at_0": "2031-02-01",
        "paid_at_1": "09:30:00",
        **fields,
    }


def test_an_operator_records_a_payment_and_the_member_holds_the_plan(client, operator, plus, clock):
    member = MemberFactory()
    login(client, operator)
    response = client.post(reverse("admin:tiers_subscription_add"), payment_form(member, plus))
    assert response.status_code == 302, response.context["adminform"].form.errors
    subscription = Subscription.objects.get()
    assert (subscription.member, subscription.payment_ref, subscription.price) == (
        member,
        "POS-20310201-0001",
        Decimal("199.00"),
    )
    assert (subscription.paid_at, subscription.starts_at) == (local(2031, 2, 1, 9, 30), local(2031, 2, 1, 10))
    assert subscription.actor == operator
    assert MemberTier.objects.get(member=member).tier == plus.tier


def test_the_service_refuses_on_the_form_and_nothing_is_written(client, operator, plus, clock):
    taken = MemberFactory()
    subscription_start(taken, plan=plus, payment_ref="POS-1")
    login(client, operator)
    url = reverse("admin:tiers_subscription_add")
    reused = client.post(url, payment_form(MemberFactory(), plus, payment_ref="POS-1"))
    assert reused.status_code == 200
    assert "payment_ref" in reused.context["adminform"].form.errors
    future = client.post(url, payment_form(MemberFactory(), plus, payment_ref="POS-2", paid_at_1="10:30:00"))
    assert "paid_at" in future.context["adminform"].form.errors
    assert Subscription.objects.count() == 1


def test_ending_early_shows_the_refund_then_records_it(client, operator, plus, clock):
    """199 × 100/365 = 54.52 used after 100 days: 144.48 back."""
    subscription = subscription_start(MemberFactory(), plan=plus, payment_ref="POS-1")
    clock.now = local(2031, 5, 12, 10, 0)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"  # the words below are the English ones
    login(client, operator)
    change = client.get(reverse("admin:tiers_subscription_change", args=[subscription.pk])).content.decode()
    url = reverse("admin:tiers_subscription_end", args=[subscription.pk])
    assert url in change
    page = client.get(url).content.decode()
    assert "144.48" in page
    assert client.post(url, {"reason": ""}).status_code == 200  # a reason is needed
    assert Subscription.objects.get().status == "active"
    response = client.post(url, {"reason": "会员来电退款"}, follow=True)
    assert "144.48" in response.content.decode()
    subscription.refresh_from_db()
    assert (subscription.status, subscription.refund_amount, subscription.cancelled_by) == (
        "cancelled",
        Decimal("144.48"),
        operator,
    )
    assert (
        url
        not in client.get(reverse("admin:tiers_subscription_change", args=[subscription.pk])).content.decode()
    )
    assert "nothing to end" in client.get(url).content.decode()


def test_only_those_who_may_cancel_end_a_period_or_record_one(client, finance, store_staff, plus, clock):
    subscription = subscription_start(MemberFactory(), plan=plus, payment_ref="POS-1")
    url = reverse("admin:tiers_subscription_end", args=[subscription.pk])
    for user in (finance, store_staff):
        login(client, user)
        assert client.get(url).status_code == 403
        assert client.post(url, {"reason": "x"}).status_code == 403
        assert client.get(reverse("admin:tiers_subscription_add")).status_code == 403
    assert Subscription.objects.get().status == "active"


def test_orders_are_found_by_number_payment_or_member(client, operator, plus, clock):
    member = MemberFactory()
    partner, _key = make_partner("app", "P001")
    order = plan_order_create(partner=partner, member=member, plan=plus)
    plan_order_create(partner=partner, member=MemberFactory(), plan=plus)
    login(client, operator)
    url = reverse("admin:tiers_planorder_changelist")
    for term in (order.order_number, member.member_number):
        found = client.get(url, {"q": term}).context["cl"].result_list
        assert [o.order_number for o in found] == [order.order_number]
    assert client.get(reverse("admin:tiers_planorder_change", args=[order.pk])).status_code == 200
    assert PlanOrder.objects.count() == 2
