"""The daily rollup: every row of the hand-built programme, worked out on paper, and the same
tables after a second run."""

from __future__ import annotations

from decimal import Decimal

import pytest

from campaigns.insight.models import ActiveDay, CohortMonth, MemberDay, PointsDay, SalesDay, TierMoveDay
from campaigns.insight.rollups import DAY_TABLES, day_rollup
from tests.insight.conftest import D1, D2, roll_up

pytestmark = pytest.mark.django_db


def _rows(model, *fields):
    return sorted(model.objects.values_list(*fields), key=str)


def test_sales_are_added_up_by_day_store_channel_and_the_tier_held_that_day(programme):
    roll_up()
    a, b, silver = programme["a"].pk, programme["b"].pk, programme["ladder"]["silver"].pk
    member = programme["ladder"]["member"].pk
    assert _rows(
        SalesDay, "day", "store", "channel", "tier", "orders", "sales", "refunds", "refund_amount"
    ) == sorted(
        [
            (D1, a, "store", member, 1, Decimal("100.00"), 0, Decimal("0.00")),
            (D1, None, "wechat_mp", member, 1, Decimal("250.50"), 0, Decimal("0.00")),
            # p4 at 23:30 Shanghai time is 11-11's, not 11-12's; m3 was 银卡 by the day's end
            (D2, a, "store", member, 1, Decimal("40.00"), 0, Decimal("0.00")),
            (D2, b, "store", silver, 1, Decimal("80.00"), 0, Decimal("0.00")),
            (D2, None, "wechat_mp", member, 0, Decimal("0.00"), 1, Decimal("50.50")),
        ],
        key=str,
    )


def test_members_tier_moves_points_and_actives_of_each_day(programme):
    roll_up()
    a, member, silver = programme["a"].pk, programme["ladder"]["member"].pk, programme["ladder"]["silver"].pk
    assert _rows(MemberDay, "day", "store", "channel", "joined") == sorted(
        [(D1.replace(month=10, day=1), a, "store", 1), (D1, a, "store", 1), (D1, None, "wechat_mp", 1)],
        key=str,
    )
    assert _rows(TierMoveDay, "day", "store", "from_tier", "to_tier", "moves") == [(D2, a, member, silver, 1)]
    points = PointsDay.objects.filter(point_type__code="points")
    assert sorted(points.values_list("day", "kind", "store", "tier", "amount"), key=str) == sorted(
        [
            (D1, "earn", a, member, 100),
            (D1, "earn", None, member, 250),
            (D2, "earn", a, member, 40),
            (D2, "earn", a, silver, 80),
            (D2, "spend", a, member, -60),
        ],
        key=str,
    )  # fmt: skip  (11-11: m1 and m3 both belong to store A, where they joined; m3 is 银卡 by then)
    # 11-11, one day: m1 and m3 bought, m2 did something (active, not a buyer)
    day = ActiveDay.objects.filter(day=D2, window=1)
    assert (sum(r.active for r in day), sum(r.buyers for r in day)) == (3, 2)
    week = ActiveDay.objects.filter(day=D2, window=7)
    assert (sum(r.active for r in week), sum(r.buyers for r in week)) == (3, 3)
    assert sum(r.active for r in ActiveDay.objects.filter(day=D1, window=1)) == 2
    # November's buyers by the month they joined: m1 and m2 (November), m3 (October), at their stores
    assert _rows(CohortMonth, "cohort", "month", "store", "buyers") == sorted(
        [(D1.replace(day=1), D1.replace(day=1), a, 1), (D1.replace(day=1), D1.replace(day=1), None, 1),
         (D1.replace(month=10, day=1), D1.replace(day=1), a, 1)], key=str,
    )  # fmt: skip


def _dump():
    return {
        model: sorted(
            (tuple(v for k, v in row.items() if k != "id") for row in model.objects.values()), key=str
        )
        for model in (*DAY_TABLES, CohortMonth)
    }


def test_rolling_up_again_gives_the_same_tables(programme):
    roll_up()
    first = _dump()
    roll_up()
    day_rollup(D2)
    assert _dump() == first
    assert sum(len(rows) for rows in first.values()) > 10


def test_today_is_rolled_up_without_the_nights_windows(programme):
    """Every ten minutes today is rolled up for the pages, without the active-member windows and
    cohorts (weeks of facts each): the night's run of the finished day writes those."""
    written = day_rollup(D2, whole=False)
    assert "activeday" not in written and "cohortmonth" not in written
    assert written["salesday"] == 3 and not ActiveDay.objects.exists()


def test_a_backfill_counts_actives_where_pages_read_them():
    import datetime

    from campaigns.insight.rollups import pages_ask_actives

    last = datetime.date(2026, 12, 1)
    assert pages_ask_actives(datetime.date(2026, 9, 1), last)  # the last 92 days, each
    assert not pages_ask_actives(datetime.date(2026, 6, 17), last)  # an old Wednesday
    assert pages_ask_actives(datetime.date(2026, 6, 21), last)  # a Sunday: weekly charts
    assert pages_ask_actives(datetime.date(2026, 6, 30), last)  # a month's end: monthly charts
