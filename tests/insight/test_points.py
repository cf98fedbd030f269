"""The points page on the hand-built programme (tests/insight/conftest.py) and, on 11-10 and
11-11, what else happens to points there, every figure worked out below by hand:

- award lines: m1's purchase on 11-10 gave 100 by the base rule and 10 by the tier multiplier;
  on 11-11 m2 got 5 by a behaviour rule and m3 30 by a campaign;
- an operator adds 15 points to m3 on 11-11;
- m2 exchanges 50 points for a coupon in the admin (11-11 10:00) and 100 for a tote bag
  through the partner API (11-11 11:00);
- m3's 80 points of p3 (11-11 10:00) expire on 11-11 at 20:00.

The ledger of the programme itself: earned 100 + 250 on 11-10, 80 + 40 on 11-11; m1 spent 60
on 11-11 (a spend with no reward behind it).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from benefits.models import Benefit, Reward
from benefits.rewards import reward_redeem
from campaigns.insight.models import RedemptionDay
from campaigns.models import Award, AwardLine
from points.models import Lot, PointType
from points.services import points_adjust
from points.services.batch import lots_expire_due
from tests.api.conftest import make_partner
from tests.insight.conftest import D1, D2, roll_up
from tests.tiers.conftest import local

pytestmark = pytest.mark.django_db


def _award(member, key: str, at, *lines: tuple[str, int]) -> None:
    points = PointType.objects.get(code="points")
    award = Award.objects.create(
        key=key, kind=Award.Kind.PURCHASE, member=member, occurred_at=at, created_at=at
    )
    for kind, amount in lines:
        AwardLine.objects.create(
            award=award, member=member, kind=kind, point_type=points, amount=amount,
            cny=Decimal(amount) / 100, occurred_at=at,
        )  # fmt: skip


@pytest.fixture
def points_month(programme, operator):
    m1, m2, m3 = programme["m1"], programme["m2"], programme["m3"]
    _award(m1, "a1", local(2026, 11, 10, 12), (AwardLine.Kind.BASE, 100), (AwardLine.Kind.TIER, 10))
    _award(m2, "a2", local(2026, 11, 11, 8), (AwardLine.Kind.BEHAVIOUR, 5))
    _award(m3, "a3", local(2026, 11, 11, 10), (AwardLine.Kind.CAMPAIGN, 30))
    points_adjust(member=m3, point_type="points", amount=15, reason="补偿", actor=operator,
                  idempotency_key="adj-1", at=local(2026, 11, 11, 12))  # fmt: skip
    ten_off = Benefit.objects.create(
        name="减10元", kind=Benefit.Kind.AMOUNT_OFF, value=Decimal("10"), valid_days=30
    )
    coupon = Reward.objects.create(name="减10元券", kind=Reward.Kind.COUPON, points_price=50, benefit=ten_off)
    tote = Reward.objects.create(name="帆布袋", kind=Reward.Kind.PHYSICAL, points_price=100, stock=5)
    reward_redeem(member=m2, reward=coupon, idempotency_key="r-admin", actor=operator,
                  at=local(2026, 11, 11, 10))  # fmt: skip
    partner, _key = make_partner("app", "APP1")
    reward_redeem(member=m2, reward=tote, idempotency_key="r-api", actor=partner.user,
                  ship_to="上海市徐汇区 某路 1 号", at=local(2026, 11, 11, 11))  # fmt: skip
    Lot.objects.filter(entry__idempotency_key="earn-p3").update(expires_at=local(2026, 11, 11, 20))
    assert lots_expire_due(now=local(2026, 11, 11, 20, 30)) == 1
    roll_up()
    return {**programme, "coupon": coupon, "tote": tote}


def test_sources_flows_rates_rewards_and_channels(points_month, client, operator):
    client.force_login(operator)
    page = client.get(
        reverse("admin:insight_points"), {"period": "custom", "start": D1.isoformat(), "end": D2.isoformat()}
    ).context
    charts = {chart.key: chart for chart in page["charts"]}
    issued = {series["name"]: series["data"] for series in charts["issued"].series}
    # by source, 11-10 then 11-11: purchases 100 + 10; behaviour 5; campaigns 30; adjustments 15
    assert list(issued.values()) == [[110, 0], [0, 5], [0, 30], [0, 15]]
    flows = [series["data"] for series in charts["flows"].series]
    # issued: the ledger's earnings (350, 120); redeemed: 60 + 50 + 100 on 11-11; expired: 80
    assert flows == [[350, 120], [0, 210], [0, 80]]
    rates = [series["data"] for series in charts["rates"].series]
    # redeemed ÷ issued: 0 ÷ 350, 210 ÷ 120; breakage: nothing left on 11-10, 80 ÷ (210 + 80)
    assert rates == [[0.0, 1.75], [None, round(80 / 290, 4)]]
    by_type = dict(zip(charts["by_type"].categories, charts["by_type"].series[0]["data"], strict=True))
    assert by_type == {str(Reward.Kind.COUPON.label): 50, str(Reward.Kind.PHYSICAL.label): 100}
    by_via = dict(zip(charts["by_via"].categories, charts["by_via"].series[0]["data"], strict=True))
    assert by_via == {str(RedemptionDay.Via.API.label): 100, str(RedemptionDay.Via.ADMIN.label): 50}
    (top,) = page["tables"]
    assert list(top.rows) == [["帆布袋", 1, 100], ["减10元券", 1, 50]]


def test_one_day_and_one_channel(points_month, client, operator):
    """11-10 alone, members who joined in store only (m1, m3): m1's 100 + 10 by the rules."""
    client.force_login(operator)
    page = client.get(
        reverse("admin:insight_points"),
        {"period": "custom", "start": D1.isoformat(), "end": D1.isoformat(), "channel": "store"},
    ).context
    charts = {chart.key: chart for chart in page["charts"]}
    assert [series["data"] for series in charts["issued"].series] == [[110], [0], [0], [0]]
    # m1 earned 100 on 11-10 (m2's 250 is the mini-program's)
    assert [series["data"] for series in charts["flows"].series] == [[100], [0], [0]]
    assert charts["by_via"].categories == [] and page["tables"][0].rows == []
