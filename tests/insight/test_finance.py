"""The points roll-forward: each line worked out on paper, reconciled to the ledger to the point,
and downloaded with numbers as numbers."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from campaigns.insight.finance import breakage_rates, roll_forward
from campaigns.insight.rollups import day_rollup
from points.models import Account, PointType, Source
from points.services import (
    lots_expire_due,
    points_adjust,
    points_earn,
    points_refund,
    points_spend,
    points_transfer,
)
from tests.factories import MemberFactory
from tests.tiers.conftest import local

pytestmark = pytest.mark.django_db

OCT, NOV, DEC = datetime.date(2026, 10, 1), datetime.date(2026, 11, 1), datetime.date(2026, 12, 1)


@pytest.fixture
def ledger(db, administrator):
    """Points expire a month after they are earned (rolling, one month)."""
    PointType.objects.filter(code="points").update(expiry_policy=PointType.Expiry.ROLLING, expiry_period=1)
    alice, bob = MemberFactory(name="甲"), MemberFactory(name="乙")

    def earn(member, amount, at, key):
        points_earn(member=member, point_type="points", amount=amount, source=Source.PURCHASE,
                    idempotency_key=key, at=at, available_at=at)  # fmt: skip

    earn(alice, 1000, local(2026, 9, 20), "e0")  # before the report: the opening balance
    earn(alice, 500, local(2026, 10, 5), "e1")
    earn(bob, 300, local(2026, 10, 6), "e2")
    spend = points_spend(
        member=alice, point_type="points", amount=200, idempotency_key="s1", at=local(2026, 10, 7)
    )
    points_refund(spend=spend, at=local(2026, 10, 8))  # the reward was cancelled: 200 back
    points_spend(member=alice, point_type="points", amount=150, idempotency_key="s2", at=local(2026, 10, 9))
    # 10-20: what is left of the 09-20 lot (1,000 − 150 spent first, soonest-expiring) expires
    lots_expire_due(now=local(2026, 10, 20, 1))
    points_transfer(from_member=bob, to_member=alice, point_type="points", amount=100, idempotency_key="t1",
                    at=local(2026, 11, 3))  # fmt: skip
    points_adjust(member=bob, point_type="points", amount=-50, reason="补录错误", actor=administrator,
                  idempotency_key="a1", at=local(2026, 11, 4))  # fmt: skip
    for month, days in ((9, (20,)), (10, (5, 6, 7, 8, 9, 20)), (11, (3, 4))):
        for day in days:  # the days something happened; the others roll up to no rows
            day_rollup(datetime.date(2026, month, day))
    return alice, bob


def test_every_line_of_the_roll_forward(ledger):
    rows = {(r.month, r.point_type.code): r for r in roll_forward(OCT, DEC)}
    october = rows[(OCT, "points")]
    assert october.opening == 1000
    assert october.moves == {
        "issued": 800, "reversed": 0, "adjusted": 0,
        "redeemed": 150,  # 200 spent and given back, then 150
        "expired": 850, "transferred": 0, "moved_in": 0,
    }  # fmt: skip
    assert october.closing == 1000 + 800 - 150 - 850 == 800
    november = rows[(NOV, "points")]
    # the transfer nets to nothing across members; the adjustment takes 50
    moves = november.moves
    assert (november.opening, moves["transferred"], moves["adjusted"], november.closing) == (800, 0, -50, 750)
    assert rows[(DEC, "points")].opening == rows[(DEC, "points")].closing == 750
    growth = rows[(OCT, "growth")]
    assert (growth.opening, growth.closing) == (0, 0)


def test_closing_is_opening_plus_movements_and_the_members_balances(ledger):
    rows = roll_forward(OCT, DEC)
    for row in rows:
        assert row.closing == row.opening + row.movement_total()
    for point_type in PointType.objects.all():
        held = sum(a.available + a.pending for a in Account.objects.filter(point_type=point_type))
        assert [r.closing for r in rows if r.point_type == point_type][-1] == held
    assert held == 0  # growth: nothing; and the points balance was checked above
    assert sum(a.available for a in Account.objects.filter(point_type__code="points")) == 750


def test_breakage_is_the_expired_share_of_what_left_accounts(ledger):
    rates = breakage_rates(NOV)
    points = PointType.objects.get(code="points")
    assert rates[points.pk] == (Decimal(850) / Decimal(1000)).quantize(Decimal("0.0001"))  # 850 ÷ (150 + 850)


def test_the_page_and_its_downloads(client, ledger, finance, store_staff):
    client.force_login(store_staff)
    assert client.get("/admin/insight/insightsettings/finance/").status_code == 403
    client.force_login(finance)
    page = client.get("/admin/insight/insightsettings/finance/?from=2026-10&to=2026-12")
    assert page.status_code == 200 and "2026-10" in page.content.decode()
    book = load_workbook(
        io.BytesIO(
            client.get("/admin/insight/insightsettings/finance/?from=2026-10&to=2026-12&format=xlsx").content
        )
    )
    sheet = book.worksheets[0]
    first = [cell.value for cell in sheet[2]]
    assert first[:3] == ["2026-10", PointType.objects.get(code="points").name, 1000]
    assert (
        sheet.cell(row=2, column=3).data_type == "n" and sheet.cell(row=2, column=3).number_format == "#,##0"
    )
    money = book.worksheets[1]
    assert (
        money.cell(row=2, column=3).value == 10.0 and money.cell(row=2, column=3).number_format == "#,##0.00"
    )
    csv = client.get(
        "/admin/insight/insightsettings/finance/?from=2026-10&to=2026-12&format=csv"
    ).content.decode("utf-8-sig")
    assert "2026-10" in csv and ",1000," in csv
