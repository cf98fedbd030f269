"""The campaign league: uplift, incremental sales, ROI and the significance of the uplift,
worked out on paper.

Targeted group: 40 members, 20 paid 300.00 and 20 paid 100.00 while it ran → 200.00 a member.
Control group: 40 members, 20 paid 200.00 and 20 nothing → 100.00 a member.
Each group's sample variance: 40 × 100² ÷ 39 = 10,256.41; the standard error of the difference:
√(2 × 10,256.41 ÷ 40) = 22.646; z = 100 ÷ 22.646 = 4.416; two-sided p = erfc(z ÷ √2) ≈ 0.00001.
Incremental sales = (200 − 100) × 40 = 4,000.00; the campaign cost 800.00 → ROI 5 (500 %).
"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from campaigns.insight.campaigns import campaign_league, campaigns_measure
from campaigns.models import Award, AwardLine, Participation
from campaigns.results import MIN_GROUP
from members.purchases.models import Purchase
from tests.campaigns.conftest import campaign
from tests.factories import MemberFactory
from tests.tiers.conftest import local

pytestmark = pytest.mark.django_db

AT = local(2026, 11, 5, 12)


def _group(promo, control: bool, paid: list[str]) -> None:
    for index, amount in enumerate(paid):
        member = MemberFactory()
        Participation.objects.create(campaign=promo, member=member, control=control, first_at=AT)
        if amount != "0":
            Purchase.objects.create(
                source="pos", order_number=f"{promo.pk}-{control}-{index}", channel="store", member=member,
                occurred_at=AT, gross_amount=Decimal(amount), paid_amount=Decimal(amount),
            )  # fmt: skip


def _cost(promo, cny: str) -> None:
    member = MemberFactory()
    award = Award.objects.create(key=f"k{promo.pk}", kind=Award.Kind.PURCHASE, member=member, occurred_at=AT,
                                 created_at=AT)  # fmt: skip
    AwardLine.objects.create(award=award, member=member, kind=AwardLine.Kind.CAMPAIGN, campaign=promo,
                             amount=80000, cny=Decimal(cny), occurred_at=AT)  # fmt: skip


def test_uplift_roi_and_significance(db):
    promo = campaign(
        name="双11", starts_at=local(2026, 11, 1), ends_at=local(2026, 11, 12), holdout_percent=50
    )
    _group(promo, False, ["300"] * 20 + ["100"] * 20)
    _group(promo, True, ["200"] * 20 + ["0"] * 20)
    _cost(promo, "800")
    assert campaigns_measure(now=local(2026, 11, 20)) == 1
    (row,) = campaign_league()
    assert (row.targeted.members, row.control.members, row.targeted.buyers, row.control.buyers) == (
        40,
        40,
        40,
        20,
    )
    assert (row.targeted.mean, row.control.mean) == (Decimal(200), Decimal(100))
    assert row.uplift.relative == Decimal(1)  # +100 %
    assert row.uplift.incremental_sales == Decimal(4000)
    assert row.cost == Decimal(800) and row.roi == Decimal(5)
    variance = 40 * 100**2 / 39
    assert row.targeted.variance == pytest.approx(variance) and row.control.variance == pytest.approx(
        variance
    )
    assert row.uplift.p_value == pytest.approx(math.erfc(100 / math.sqrt(2 * variance / 40) / math.sqrt(2)))
    assert row.uplift.p_value < 0.0001 and row.uplift.significant


def test_small_groups_and_no_control_say_so(db, client, operator):
    small = campaign(
        name="小活动", starts_at=local(2026, 11, 1), ends_at=local(2026, 11, 12), holdout_percent=50
    )
    _group(small, False, ["300"] * 10)
    _group(small, True, ["100"] * 10)
    _cost(small, "100")
    alone = campaign(name="无对照", starts_at=local(2026, 11, 1), ends_at=local(2026, 11, 12))
    _group(alone, False, ["300"] * 5)
    campaigns_measure(now=local(2026, 11, 20))
    rows = {row.campaign.name: row for row in campaign_league()}
    assert rows["小活动"].uplift.p_value is None and rows["小活动"].roi == Decimal(20)  # 200 × 10 ÷ 100
    assert rows["无对照"].roi is None
    client.force_login(operator)
    page = client.get("/admin/insight/insightsettings/campaigns/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f"groups too small to tell (under {MIN_GROUP} members)" in page
    assert "no control group" in page
