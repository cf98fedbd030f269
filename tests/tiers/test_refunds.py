"""Ending a paid period early: the refund its terms give, computed by hand to the fen (half up),
and what happens to the tier and to renewals paid in advance."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.factories import MemberFactory
from tests.tiers.conftest import local
from tiers.errors import NotCancellable
from tiers.models import MemberTier, Plan, RefundPolicy, Subscription
from tiers.refunds import refund_before_fee
from tiers.subscriptions import refund_quote, subscription_cancel, subscription_start

pytestmark = pytest.mark.django_db

START = local(2026, 2, 1, 10, 0)  # a year of 365 days: 1 Feb 2026 to 1 Feb 2027
DAY_100 = local(2026, 5, 12, 15, 0)  # 100 local days after the start's day


@pytest.fixture
def plus(ladder) -> Plan:
    return Plan.objects.create(
        code="plus",
        name="PLUS会员",
        price=Decimal("199.00"),
        tier=ladder["gold"],
        refund_policy=RefundPolicy.DAYS,
    )


def bought(plan: Plan, member=None, ref: str = "PAY-1", at=START) -> Subscription:
    return subscription_start(member or MemberFactory(), plan=plan, payment_ref=ref, at=at)


def test_unused_days_are_refunded_after_100_days(plus, operator):
    """199 × 100 / 365 = 54.5205… → 54.52 used; 199.00 − 54.52 = 144.48 back."""
    subscription = bought(plus)
    assert refund_quote(subscription, DAY_100) == Decimal("144.48")
    ended = subscription_cancel(
        subscription, actor=operator, reason="会员申请退款", immediately=True, at=DAY_100
    )
    assert (ended.status, ended.refund_amount, ended.ends_at) == ("cancelled", Decimal("144.48"), DAY_100)
    assert ended.paid_until == local(2027, 2, 1, 10, 0)  # what was paid for stays on record
    status = MemberTier.objects.select_related("tier").get(member=ended.member)
    assert (status.tier.code, status.source) == ("member", "earned")  # the plan's tier went at once
    with pytest.raises(NotCancellable):
        subscription_cancel(ended, actor=operator, reason="again", immediately=True, at=DAY_100)
    assert refund_quote(ended, DAY_100) is None


def test_whole_unused_months_are_refunded(plus, operator):
    """By 12 May four months have begun (Feb, Mar, Apr, May): 199 × 8 / 12 = 132.666… → 132.67."""
    plus.refund_policy = RefundPolicy.MONTHS
    plus.save()
    ended = subscription_cancel(bought(plus), actor=operator, reason="退款", immediately=True, at=DAY_100)
    assert ended.refund_amount == Decimal("132.67")


def test_a_months_refund_is_never_more_than_is_still_deferred(ladder):
    """¥90 for Dec, Jan, Feb (31 + 31 + 28 = 90 days), ended on 31 Jan: one month not begun is
    90 / 3 = 30.00, but only 29 days (31 Jan and February) are still deferred: 29.00."""
    plan = Plan.objects.create(
        code="q", name="季卡", price=Decimal("90.00"), duration_months=3, refund_policy=RefundPolicy.MONTHS
    )
    subscription = bought(plan, at=local(2026, 12, 1, 0, 0))
    assert refund_before_fee(subscription, RefundPolicy.MONTHS, local(2027, 1, 31, 10, 0)) == Decimal("29.00")
    assert refund_before_fee(subscription, RefundPolicy.DAYS, local(2027, 1, 31, 10, 0)) == Decimal("29.00")
    assert refund_before_fee(subscription, RefundPolicy.MONTHS, local(2027, 1, 1, 0, 0)) == Decimal("30.00")


def test_the_fee_is_kept_once_and_a_refund_never_goes_below_zero(plus, operator):
    plus.cancellation_fee = Decimal("20.00")
    plus.save()
    ended = subscription_cancel(bought(plus), actor=operator, reason="退款", immediately=True, at=DAY_100)
    assert ended.refund_amount == Decimal("124.48")  # 144.48 − 20.00
    late = bought(plus, ref="PAY-2")
    # the last day of the period: 199 × 364 / 365 = 198.4547… → 198.45 used, 0.55 left < 20.00
    ended = subscription_cancel(
        late, actor=operator, reason="退款", immediately=True, at=local(2027, 1, 31, 12)
    )
    assert ended.refund_amount == Decimal("0.00")


def test_terms_are_those_it_was_sold_with(plus, operator):
    subscription = bought(plus)
    plus.refund_policy, plus.cancellation_fee = RefundPolicy.NONE, Decimal("50.00")
    plus.save()
    ended = subscription_cancel(subscription, actor=operator, reason="退款", immediately=True, at=DAY_100)
    assert ended.refund_amount == Decimal("144.48")


def test_no_refund_policy_ends_the_period_with_nothing_back(plus, operator):
    plus.refund_policy = RefundPolicy.NONE
    plus.save()
    ended = subscription_cancel(bought(plus), actor=operator, reason="违规", immediately=True, at=DAY_100)
    assert (ended.status, ended.refund_amount) == ("cancelled", Decimal("0.00"))


def test_ending_a_period_ends_the_renewal_paid_after_it_with_its_whole_price(plus, operator):
    plus.cancellation_fee = Decimal("20.00")
    plus.save()
    member = MemberFactory()
    first = bought(plus, member)
    renewal = bought(
        plus, member, ref="PAY-2", at=local(2026, 5, 1, 9)
    )  # paid ahead: 1 Feb 2027 – 1 Feb 2028
    assert renewal.renewal_of == first
    assert refund_quote(first, DAY_100) == Decimal("323.48")  # 144.48 − 20.00 + 199.00
    subscription_cancel(first, actor=operator, reason="退款", immediately=True, at=DAY_100)
    first.refresh_from_db()
    renewal.refresh_from_db()
    assert (first.refund_amount, renewal.refund_amount) == (Decimal("124.48"), Decimal("199.00"))
    assert renewal.status == "cancelled" and renewal.cancelled_at == DAY_100
    assert MemberTier.objects.get(member=member).plan_tier is None


def test_stopping_renewal_refunds_nothing_and_keeps_the_period(plus, operator):
    subscription = bought(plus)
    stopped = subscription_cancel(subscription, actor=operator, reason="不续费", at=DAY_100)
    assert (stopped.status, stopped.refund_amount, stopped.auto_renew) == ("active", None, False)
    assert refund_quote(stopped, DAY_100) == Decimal("144.48")  # it can still be ended early
