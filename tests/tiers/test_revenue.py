"""Membership fees as deferred revenue: the monthly schedule, worked out by hand to the fen, and
the report finance reads and downloads."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from tests.conftest import login
from tests.factories import MemberFactory
from tests.tiers.conftest import local
from tiers.models import Plan, RefundPolicy
from tiers.revenue import revenue_schedule
from tiers.subscriptions import subscription_cancel, subscription_start

pytestmark = pytest.mark.django_db

JAN, FEB, MAR, APR = (datetime.date(2026, month, 1) for month in (1, 2, 3, 4))


@pytest.fixture
def plans(db) -> dict[str, Plan]:
    return {
        "plus": Plan.objects.create(
            code="plus", name="PLUS会员", price=Decimal("199.00"), refund_policy=RefundPolicy.DAYS
        ),
        "monthly": Plan.objects.create(
            code="monthly", name="月卡", price=Decimal("30.00"), duration_months=1
        ),
    }


@pytest.fixture
def payments(plans, operator):
    """A: PLUS paid 15 Jan 2026 (365 days), ended on 25 Apr, day 100 of them: 54.52 used, 144.48
    refunded. B: PLUS paid 10 Mar 2026 (365 days). C: 月卡 paid 20 Feb 2026 (28 days)."""
    a = subscription_start(MemberFactory(), plan=plans["plus"], payment_ref="A", at=local(2026, 1, 15, 10))
    subscription_start(MemberFactory(), plan=plans["plus"], payment_ref="B", at=local(2026, 3, 10, 9))
    subscription_start(MemberFactory(), plan=plans["monthly"], payment_ref="C", at=local(2026, 2, 20, 12))
    ended = subscription_cancel(a, actor=operator, reason="退款", immediately=True, at=local(2026, 4, 25, 12))
    assert ended.refund_amount == Decimal("144.48")


def figures(schedule, month, plan=None) -> tuple[str, ...]:
    row = schedule.month(month, plan.pk if plan else None)
    return tuple(f"{v:.2f}" for v in (row.opening, row.received, row.recognised, row.refunded, row.closing))


def test_the_monthly_schedule_by_hand(plans, payments):
    """Recognised before each month's start (running total, rounded half up):
    A: 199 × 17/365 = 9.27 (1 Feb), × 45/365 = 24.53 (1 Mar), × 76/365 = 41.44 (1 Apr); ended on
    day 100 (25 Apr): recognised 199.00 − 144.48 = 54.52 in all, 13.08 of it in April.
    B: 199 × 22/365 = 11.99 (1 Apr), × 52/365 = 28.35 (1 May).
    C: 30 × 9/28 = 9.64 in February, the other 20.36 in March."""
    schedule = revenue_schedule(JAN, APR)
    plus, monthly = plans["plus"], plans["monthly"]
    # opening, received, recognised, refunded, closing
    assert figures(schedule, JAN, plus) == ("0.00", "199.00", "9.27", "0.00", "189.73")
    assert figures(schedule, FEB, plus) == ("189.73", "0.00", "15.26", "0.00", "174.47")
    assert figures(schedule, MAR, plus) == ("174.47", "199.00", "28.90", "0.00", "344.57")  # 16.91 + 11.99
    assert figures(schedule, APR, plus) == ("344.57", "0.00", "29.44", "144.48", "170.65")  # 13.08 + 16.36
    assert figures(schedule, FEB, monthly) == ("0.00", "30.00", "9.64", "0.00", "20.36")
    assert figures(schedule, MAR, monthly) == ("20.36", "0.00", "20.36", "0.00", "0.00")
    assert figures(schedule, MAR) == ("194.83", "199.00", "49.26", "0.00", "344.57")
    # payments 199 + 199 + 30 = 428.00 = recognised 54.52 + 28.35 + 30.00 + refunded 144.48 + deferred
    total = schedule.total_to_date()
    assert (total.paid, total.recognised, total.refunded, total.deferred, total.difference) == (
        Decimal("428.00"),
        Decimal("112.87"),
        Decimal("144.48"),
        Decimal("170.65"),
        Decimal("0.00"),
    )
    assert total.periods == 3


def test_a_later_start_carries_the_earlier_months_in_its_opening(plans, payments):
    """From April: A's opening is its 199.00 less 41.44 recognised; B's 199.00 less 11.99."""
    schedule = revenue_schedule(APR, APR)
    assert figures(schedule, APR, plans["plus"]) == ("344.57", "0.00", "29.44", "144.48", "170.65")
    assert figures(schedule, APR, plans["monthly"]) == ("0.00", "0.00", "0.00", "0.00", "0.00")
    monthly = schedule.to_date[plans["monthly"].pk]  # over before April: summed by the database
    assert (monthly.paid, monthly.recognised, monthly.deferred, monthly.periods) == (
        Decimal("30.00"),
        Decimal("30.00"),
        Decimal("0.00"),
        1,
    )
    assert schedule.total_to_date().difference == Decimal("0.00")


def test_a_whole_period_adds_up_to_its_price_to_the_fen(plans, payments):
    """B over its 13 calendar months (10 Mar 2026 – 10 Mar 2027): recognised 199.00 in all, the
    rounding's remainder in the last month, nothing deferred after."""
    schedule = revenue_schedule(MAR, datetime.date(2027, 3, 1))
    plus = plans["plus"]
    recognised = sum(schedule.month(month, plus.pk).recognised for month in schedule.months)
    assert recognised == Decimal("199.00") + Decimal("29.99")  # B whole, A's 54.52 less 24.53 before March
    assert schedule.month(datetime.date(2027, 3, 1), plus.pk).closing == Decimal("0.00")
    # March 2027: 199.00 less what the days up to 1 March recognised, 199 × 356/365 = 194.09
    assert schedule.month(datetime.date(2027, 3, 1), plus.pk).recognised == Decimal("4.91")


# --- the report page --------------------------------------------------------------------------


def test_finance_reads_and_downloads_the_report(client, finance, plans, payments):
    url = reverse("admin:tiers_subscription_revenue")
    login(client, finance)
    page = client.get(url, {"from": "2026-01", "to": "2026-04"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "PLUS会员" in text and "344.57" in text and "428.00" in text
    assert reverse("admin:tiers_subscription_revenue") in client.get(reverse("admin:index")).content.decode()
    csv = client.get(url, {"from": "2026-01", "to": "2026-04", "format": "csv"})
    assert csv["Content-Disposition"] == 'attachment; filename="membership-fee-revenue-2026-01-2026-04.csv"'
    assert "2026-03,PLUS会员,174.47,199.00,28.90,0.00,344.57" in csv.content.decode("utf-8-sig")
    book = load_workbook(
        io.BytesIO(client.get(url, {"from": "2026-01", "to": "2026-04", "format": "xlsx"}).content)
    )
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert (
        "2026-04",
        "PLUS会员",
        Decimal("344.57"),
        0,
        Decimal("29.44"),
        Decimal("144.48"),
        Decimal("170.65"),
    ) in [tuple(Decimal(str(c)) if isinstance(c, float) else c for c in row) for row in rows]


def test_the_report_is_for_finance(client, operator, store_staff):
    url = reverse("admin:tiers_subscription_revenue")
    for user in (operator, store_staff):
        assert login(client, user).get(url).status_code == 403


def test_months_out_of_order_or_malformed_still_show_a_schedule(client, finance, plans, payments):
    url = reverse("admin:tiers_subscription_revenue")
    login(client, finance)
    assert client.get(url, {"from": "2026-04", "to": "2026-01"}).status_code == 200
    assert client.get(url, {"from": "nonsense", "to": "2026-13"}).status_code == 200
