"""Paid membership: the plan's tier holds whatever was earned, renewals chain, cancelling and
expiry give the earned tier back."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from tests.factories import MemberFactory
from tests.tiers.conftest import grow, local
from tiers.errors import NotCancellable
from tiers.models import MemberTier, Plan, Subscription, TierChange
from tiers.subscriptions import (
    subscription_cancel,
    subscription_renew,
    subscription_start,
    subscriptions_expire_due,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def plus(ladder) -> Plan:
    return Plan.objects.create(code="plus", name="PLUS会员", price=Decimal("199.00"), tier=ladder["gold"])


def status_of(member) -> tuple[str, str]:
    status = MemberTier.objects.select_related("tier").get(member=member)
    return status.tier.code, status.source


def test_a_subscriber_holds_the_plan_tier_then_gets_the_earned_tier_back(plus, operator):
    member = MemberFactory()
    grow(member, 1_500, local(2026, 1, 10))  # earned 银卡

    sub = subscription_start(member, plan=plus, payment_ref="WX-PAY-1", actor=operator, at=local(2026, 2, 1))

    assert (sub.starts_at, sub.ends_at) == (local(2026, 2, 1), local(2027, 2, 1))
    assert sub.price == Decimal("199.00") and sub.auto_renew
    assert status_of(member) == ("gold", "plan")
    assert subscriptions_expire_due(now=local(2027, 1, 31)) == 0
    assert subscriptions_expire_due(now=local(2027, 2, 1)) == 1
    assert subscriptions_expire_due(now=local(2027, 2, 1)) == 0
    assert status_of(member) == ("silver", "earned")
    assert Subscription.objects.get().status == Subscription.Status.EXPIRED
    assert [c.reason for c in TierChange.objects.filter(member=member).order_by("at")] == [
        "upgrade",
        "plan",
        "plan_ended",
    ]


def test_an_earned_tier_above_the_plan_tier_wins(plus):
    member = MemberFactory()
    grow(member, 25_000, local(2026, 1, 10))
    subscription_start(member, plan=plus, payment_ref="P-1", at=local(2026, 2, 1))
    assert status_of(member) == ("diamond", "earned")


def test_the_same_payment_recorded_twice_is_one_period(plus):
    member = MemberFactory()
    first = subscription_start(member, plan=plus, payment_ref="P-1", at=local(2026, 2, 1))
    again = subscription_start(member, plan=plus, payment_ref=" P-1 ", at=local(2026, 2, 1, 0, 5))
    assert again == first and Subscription.objects.count() == 1
    with pytest.raises(ValidationError) as caught:
        subscription_start(MemberFactory(), plan=plus, payment_ref="P-1")
    assert "payment_ref" in caught.value.message_dict


def test_a_renewal_starts_where_the_paid_period_ends(plus):
    member = MemberFactory()
    first = subscription_start(member, plan=plus, payment_ref="P-1", at=local(2026, 2, 1))
    renewal = subscription_renew(first, payment_ref="P-2", at=local(2027, 1, 25))

    assert renewal.renewal_of == first
    assert (renewal.starts_at, renewal.ends_at) == (local(2027, 2, 1), local(2028, 2, 1))
    assert MemberTier.objects.get(member=member).plan_until == local(2028, 2, 1)
    subscriptions_expire_due(now=local(2027, 2, 1, 0, 1))  # first period over, renewal running
    assert status_of(member) == ("gold", "plan")


def test_cancelling_stops_renewal_but_the_paid_period_runs_on(plus, operator):
    member = MemberFactory()
    sub = subscription_start(member, plan=plus, payment_ref="P-1", at=local(2026, 2, 1))
    sub = subscription_cancel(sub, actor=operator, reason="Member asked", at=local(2026, 3, 1))
    assert (sub.status, sub.auto_renew, sub.ends_at) == ("active", False, local(2027, 2, 1))
    assert (sub.cancelled_by, sub.cancelled_at) == (operator, local(2026, 3, 1))
    assert status_of(member) == ("gold", "plan")
    with pytest.raises(NotCancellable, match="already cancelled"):
        subscription_cancel(sub, actor=operator, reason="again", at=local(2026, 4, 1))
    sub.refresh_from_db()
    assert (sub.cancel_reason, sub.cancelled_at) == ("Member asked", local(2026, 3, 1))


def test_cancelling_immediately_takes_the_tier_away_now(plus, operator):
    member = MemberFactory()
    sub = subscription_start(member, plan=plus, payment_ref="P-1", at=local(2026, 2, 1))
    sub = subscription_cancel(
        sub, actor=operator, reason="Payment refunded", immediately=True, at=local(2026, 3, 1)
    )
    assert (sub.status, sub.ends_at) == ("cancelled", local(2026, 3, 1))
    assert status_of(member) == ("member", "earned")
    with pytest.raises(NotCancellable):
        subscription_cancel(sub, actor=operator, reason="again", at=local(2026, 3, 2))


def test_a_plan_off_sale_cannot_be_bought(plus):
    plus.active = False
    plus.save()
    with pytest.raises(ValidationError) as caught:
        subscription_start(MemberFactory(), plan=plus, payment_ref="P-9")
    assert "plan" in caught.value.message_dict
    assert not Subscription.objects.exists()
