"""The quote's rules, as a pure function: channel and store, minimum balance, excluded lines,
share of the order, balance, whole steps. Numbers worked out by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from points.cash.models import CashRule
from points.cash.rules import cash_quote
from points.models import PointType
from tests.cash.conftest import LINES, basket

pytestmark = pytest.mark.django_db


@pytest.fixture
def points() -> PointType:
    return PointType.objects.get(code="points")  # 0.01 CNY a point: 100 积分 = 1 CNY


def make_rule(points: PointType, **fields) -> CashRule:
    values = {"active": True, "step": Decimal("1.00"), "max_share": 50, "min_balance": 0, **fields}
    return CashRule(point_type=points, **values)


def test_half_of_the_order_less_excluded_lines_in_whole_yuan(points):
    rule = make_rule(points, excluded_categories=["烟酒"])
    quote = cash_quote(rule, points, basket("188.00", lines=LINES), available=8000, store_ids=set())
    # 188 - 50 (烟酒) = 138; half is 69 CNY = 6,900 积分
    assert (quote.max_points, quote.value, quote.eligible_amount) == (
        6900,
        Decimal("69.00"),
        Decimal("138.00"),
    )
    assert [r.code for r in quote.reasons] == ["excluded_lines", "max_share"]
    assert quote.step_points == 100 and not quote.refusal


def test_rounded_down_to_whole_steps_of_the_share_and_of_the_balance(points):
    rule = make_rule(points)
    # half of 99.99 is 49.995 CNY: 49 whole yuan
    assert cash_quote(rule, points, basket("99.99"), available=8000, store_ids=set()).max_points == 4900
    # 1,234 积分 pay 12 whole yuan, however large the order
    small = cash_quote(rule, points, basket("1000.00"), available=1234, store_ids=set())
    assert (small.max_points, small.value) == (1200, Decimal("12.00"))
    assert [r.code for r in small.reasons] == ["balance"]
    # steps of 5 CNY = 500 积分: half of 188 is 94 CNY, 18 steps of 5 = 90 CNY
    five = make_rule(points, step=Decimal("5.00"))
    quote = cash_quote(five, points, basket("188.00"), available=20000, store_ids=set())
    assert (quote.max_points, quote.step_points, quote.value) == (9000, 500, Decimal("90.00"))


def test_a_whole_order_when_the_share_is_100(points):
    rule = make_rule(points, max_share=100)
    quote = cash_quote(rule, points, basket("30.00"), available=8000, store_ids=set())
    assert (quote.max_points, quote.reasons) == (3000, [])


def test_below_the_minimum_balance_nothing(points):
    rule = make_rule(points, min_balance=500)
    assert cash_quote(rule, points, basket(), available=500, store_ids=set()).max_points == 500
    poor = cash_quote(rule, points, basket(), available=499, store_ids=set())
    assert (poor.max_points, poor.refusal, poor.value) == (0, "below_min_balance", Decimal("0.00"))


def test_only_on_the_rules_channels_and_at_its_stores(points, db):
    from tests.factories import StoreFactory

    here, there = StoreFactory(code="S1"), StoreFactory(code="S2")
    rule = make_rule(points, channels=["store"])
    online = cash_quote(rule, points, basket(channel="wechat_mp"), available=8000, store_ids=set())
    assert (online.max_points, online.refusal) == (0, "cash_unavailable")
    at_here = cash_quote(rule, points, basket(store=here), available=8000, store_ids={here.pk})
    at_there = cash_quote(rule, points, basket(store=there), available=8000, store_ids={here.pk})
    assert (at_here.max_points, at_there.max_points, at_there.refusal) == (8000, 0, "cash_unavailable")


def test_no_rule_an_inactive_rule_or_growth_pay_nothing(points):
    growth = PointType.objects.get(code="growth")
    for rule, point_type in [
        (None, points),
        (make_rule(points, active=False), points),
        (make_rule(growth), growth),
    ]:
        quote = cash_quote(rule, point_type, basket(), available=8000, store_ids=set())
        assert (quote.max_points, quote.refusal) == (0, "cash_unavailable")


def test_a_step_must_be_whole_points(points):
    PointType.objects.filter(pk=points.pk).update(cny_value=Decimal("0.03"))
    points.refresh_from_db()
    rule = make_rule(points)  # 1 CNY is 33.3 points
    assert rule.step_points() is None
    with pytest.raises(ValidationError) as refused:
        rule.clean()
    assert set(refused.value.message_dict) == {"step"}
    assert cash_quote(rule, points, basket(), available=8000, store_ids=set()).refusal == "cash_unavailable"
    assert make_rule(points, step=Decimal("3.00")).step_points() == 100
