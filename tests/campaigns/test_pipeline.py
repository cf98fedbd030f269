"""Scenarios of the earning pipeline, each the way an operator would check it by hand."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from benefits.models import Coupon, Entitlement
from campaigns.earning import explain
from campaigns.earning.pipeline import event_process, purchase_process, refund_process
from campaigns.earning.previews import purchase_preview
from campaigns.models import Award, AwardLine, Campaign, Participation
from members.models import Member
from members.purchases.services import event_record
from points.models import Account, Entry, PointType
from points.selectors import ledger_problems
from tests.campaigns.conftest import NOW, buy, campaign, refund
from tests.factories import MemberFactory
from tests.tiers.conftest import local
from tiers.models import MemberTier
from tiers.services import tier_override

pytestmark = pytest.mark.django_db


def held(member, code="points") -> int:
    account = Account.objects.filter(member=member, point_type__code=code).first()
    return account.available + account.pending if account else 0


def texts(award: Award) -> list[str]:
    lines = award.lines.select_related("point_type", "coupon__benefit").order_by("id")
    return [explain.line_text(line) for line in lines]


def gold(member, ladder):
    tier_override(
        member=member, tier=ladder["gold"], until=local(2027, 6, 1), reason="status match", at=NOW, actor=None
    )


def test_paid_amount_at_one_point_per_cny_rounded_down(member):
    award = purchase_process(buy(member, "1234.56"), at=NOW)
    assert held(member) == 1234 and held(member, "growth") == 1234
    account = Account.objects.get(member=member, point_type__code="points")
    assert account.pending == 1234 and account.available == 0  # the 7-day return window
    assert texts(award)[0] == "Base +1,234 积分 (1 per CNY of 1234.56 CNY, Round down)"
    assert not ledger_problems()


def test_shipping_gift_cards_points_and_excluded_lines_earn_nothing(member):
    from campaigns.models import EarnRule

    EarnRule.objects.filter(point_type__code="points").update(excluded_categories=["烟酒"])
    purchase = buy(
        member, "300", gross="320", shipping_amount="10", gift_card_amount="50", points_amount="20",
        lines=[("A1", "食品", "150"), ("W1", "烟酒", "70")],
    )  # fmt: skip
    purchase_process(purchase, at=NOW)
    assert held(member) == 300 - 10 - 50 - 20 - 70
    assert held(member, "growth") == 220  # growth has its own rule, without the exclusion


def test_gold_tier_multiplies_base_points_by_one_and_a_half(member, ladder):
    gold(member, ladder)
    award = purchase_process(buy(member, "1234.56"), at=NOW)
    assert held(member) == 1234 + 617
    assert held(member, "growth") == 1234  # growth is not multiplied: it decides the tier
    assert "金卡 ×1.5 +617 积分" in texts(award)


def test_double_points_campaigns_stack_unless_exclusive_and_priority_decides(member, ladder):
    double = campaign(name="双11双倍积分", multiplier=Decimal(2), priority=10)
    campaign(name="周末加赠", bonus_points=100, priority=5)
    award = purchase_process(buy(member, "1000"), at=NOW)
    assert held(member) == 1000 + 1000 + 100
    assert "双11双倍积分 +1,000 积分" in texts(award)

    Campaign.objects.filter(pk=double.pk).update(exclusive=True)
    award = purchase_process(buy(member, "1000"), at=NOW)
    assert [ln.campaign.name for ln in award.lines.exclude(campaign=None)] == ["双11双倍积分"]

    campaign(name="会员日三倍", multiplier=Decimal(3), exclusive=True, priority=20)
    award = purchase_process(buy(member, "1000"), at=NOW)
    assert [ln.campaign.name for ln in award.lines.exclude(campaign=None)] == ["会员日三倍"]
    assert award.lines.get(campaign__name="会员日三倍").amount == 2000

    # A stackable campaign above the exclusive ones applies, and then no exclusive one may.
    campaign(name="新品加赠", bonus_points=50, priority=30)
    award = purchase_process(buy(member, "1000"), at=NOW)
    assert [ln.campaign.name for ln in award.lines.exclude(campaign=None)] == ["新品加赠", "周末加赠"]


def test_caps_per_member_times_points_and_day(member):
    once = campaign(name="首单礼", bonus_points=300, member_max_times=1)
    daily = campaign(name="每日加赠", points_per_cny=Decimal(1), member_daily_points=150)
    capped = campaign(name="累计上限", bonus_points=100, member_max_points=250)
    first = purchase_process(buy(member, "100"), at=NOW)
    second = purchase_process(buy(member, "100", at=NOW + datetime.timedelta(hours=1)), at=NOW)
    third = purchase_process(buy(member, "100", at=NOW + datetime.timedelta(hours=2)), at=NOW)
    next_day = purchase_process(buy(member, "100", at=NOW + datetime.timedelta(days=1)), at=NOW)

    def given(award, c):
        return sum(award.lines.filter(campaign=c).values_list("amount", flat=True))

    assert [given(a, once) for a in (first, second, third, next_day)] == [300, 0, 0, 0]
    assert [given(a, daily) for a in (first, second, third, next_day)] == [100, 50, 0, 100]
    assert [given(a, capped) for a in (first, second, third, next_day)] == [100, 100, 50, 0]
    assert "每日加赠 +50 积分 (capped: daily limit)" in texts(second)


def test_budget_stops_the_campaign_exactly(member):
    limited = campaign(name="限量加赠", bonus_points=1000, budget_points=2500)
    amounts = [
        sum(
            purchase_process(buy(member, "10"), at=NOW)
            .lines.filter(campaign=limited)
            .values_list("amount", flat=True)
        )
        for _ in range(4)
    ]
    assert amounts == [1000, 1000, 500, 0]
    limited.refresh_from_db()
    assert limited.spent_points == 2500


def test_cny_budget_counts_points_at_their_value(member):
    limited = campaign(name="预算100元", bonus_points=6000, budget_cny=Decimal("100"))  # 0.01 CNY a point
    first = purchase_process(buy(member, "10"), at=NOW)
    second = purchase_process(buy(member, "10"), at=NOW)
    assert first.lines.get(campaign=limited).amount == 6000
    assert second.lines.get(campaign=limited).amount == 4000
    limited.refresh_from_db()
    assert limited.spent_cny == Decimal("100")


def test_birthday_month_double_points(member):
    Member.objects.filter(pk=member.pk).update(birthday=datetime.date(1990, 11, 30))
    member.refresh_from_db()
    campaign(name="生日月双倍", multiplier=Decimal(2), birthday=Campaign.Birthday.MONTH)
    in_month = purchase_process(buy(member, "200", at=NOW), at=NOW)
    next_month = purchase_process(buy(member, "200", at=local(2026, 12, 1, 10)), at=local(2026, 12, 1, 11))
    assert in_month.lines.exclude(campaign=None).get().amount == 200
    assert not next_month.lines.exclude(campaign=None).exists()


def test_birthday_job_gives_the_birthday_campaign_once_a_year(member, free_shipping):
    from campaigns.earning.lifecycle import birthdays_process

    Member.objects.filter(pk=member.pk).update(birthday=datetime.date(1990, 11, 11))
    MemberFactory(birthday=datetime.date(1990, 11, 12))
    closed = MemberFactory(birthday=datetime.date(1990, 11, 11))
    Member.objects.filter(pk=closed.pk).update(status=Member.Status.CLOSED)  # no gift, and no crash
    gift = campaign(name="生日礼", trigger=Campaign.Trigger.BIRTHDAY, bonus_points=500, benefit=free_shipping)
    assert birthdays_process(NOW) == 1
    assert birthdays_process(NOW + datetime.timedelta(hours=3)) == 0
    assert held(member) == 500
    assert Coupon.objects.get(member=member).origin == Coupon.Origin.CAMPAIGN
    assert AwardLine.objects.filter(campaign=gift).count() == 2  # points + coupon


def test_first_purchase_bonus_only_on_the_first(member):
    campaign(name="首购礼", bonus_points=200, first_purchase=True)
    earlier = buy(member, "50", at=NOW - datetime.timedelta(days=3))
    later = buy(member, "50", at=NOW)
    # processed out of order: "first" is by when it happened, not by when it arrived
    assert not purchase_process(later, at=NOW).lines.exclude(campaign=None).exists()
    assert purchase_process(earlier, at=NOW).lines.exclude(campaign=None).get().amount == 200


def test_partial_refund_reverses_each_line_in_proportion(member, ladder):
    gold(member, ladder)
    promo = campaign(name="双倍", multiplier=Decimal(2), budget_points=10_000)
    purchase = buy(member, "1000")
    purchase_process(purchase, at=NOW)
    assert held(member) == 1000 + 500 + 1000
    first = refund_process(refund(purchase, "250"), at=NOW)
    assert held(member) == 2500 - 625 and held(member, "growth") == 750
    assert sorted(ln.amount for ln in first.lines.filter(point_type__code="points")) == [-250, -250, -125]
    promo.refresh_from_db()
    assert promo.spent_points == 750  # the budget gets back what was taken back
    refund_process(refund(purchase, "750"), at=NOW)
    assert held(member) == 0 and held(member, "growth") == 0
    assert not ledger_problems()


def test_small_refunds_never_reverse_more_than_was_earned(member):
    purchase = buy(member, "10")
    purchase_process(purchase, at=NOW)
    for _ in range(3):
        refund_process(refund(purchase, "3.33"), at=NOW)
    refund_process(refund(purchase, "0.01"), at=NOW)
    assert held(member) == 0
    reversed_total = -sum(Entry.objects.filter(kind=Entry.Kind.REVERSE, account__point_type__code="points")
                          .values_list("amount", flat=True))  # fmt: skip
    assert reversed_total == 10


def test_processing_twice_changes_nothing(member):
    campaign(bonus_points=100)
    purchase = buy(member, "99.9")
    first = purchase_process(purchase, at=NOW)
    again = purchase_process(purchase, at=NOW + datetime.timedelta(hours=1))
    assert first == again and held(member) == 199 and Entry.objects.count() == 2
    r = refund(purchase, "99.9")
    refund_process(r, at=NOW)
    refund_process(r, at=NOW)
    assert held(member) == 0 and Award.objects.count() == 2


def test_preview_equals_what_processing_gives(member, ladder):
    gold(member, ladder)
    campaign(name="双倍", multiplier=Decimal(2), priority=1)
    campaign(name="满500加赠", bonus_points=88, min_paid=Decimal(500))
    purchase = buy(member, "688.80", lines=[("A1", "食品", "688.80")])
    preview = purchase_preview(
        member, channel=purchase.channel, paid=Decimal("688.80"), gross=Decimal("688.80"),
        lines=[("A1", "食品", Decimal("688.80"))], at=NOW,
    )  # fmt: skip
    assert Award.objects.count() == 0 and Entry.objects.count() == 0  # nothing written
    award = purchase_process(purchase, at=NOW)
    assert preview.texts == texts(award)
    assert preview.totals["points"] == held(member) == 688 + 344 + 688 + 88


def test_daily_sign_in_counts_once_a_day_and_reviews_three_a_month(member):
    from campaigns.models import BehaviourRule
    from members.purchases.models import EventType

    points = PointType.objects.get(code="points")
    BehaviourRule.objects.create(event_type=EventType.objects.get(code="daily_sign_in"),
                                 point_type=points, amount=5, cap=1, cap_period="day")  # fmt: skip
    BehaviourRule.objects.create(event_type=EventType.objects.get(code="review"),
                                 point_type=points, amount=20, cap=3, cap_period="month")  # fmt: skip
    for hour in (9, 10):
        event, _ = event_record(member=member, event_type="daily_sign_in", key=f"s{hour}",
                                occurred_at=local(2026, 11, 10, hour), now=NOW)  # fmt: skip
        award = event_process(event, at=NOW)
    assert texts(award) == ["每日签到: limit of 1 per day reached, nothing given"]
    event, _ = event_record(
        member=member, event_type="daily_sign_in", key="s-next", occurred_at=local(2026, 11, 11, 8), now=NOW
    )
    event_process(event, at=NOW)
    for n in range(5):
        event, _ = event_record(
            member=member, event_type="review", key=f"r{n}", occurred_at=local(2026, 11, 2 + n), now=NOW
        )
        event_process(event, at=NOW)
    assert held(member) == 5 + 5 + 3 * 20
    account = Account.objects.get(member=member, point_type__code="points")
    assert account.available == 70  # behaviour points have no return window


def test_growth_upgrades_the_tier_issues_its_coupons_and_runs_upgrade_campaigns(
    member, ladder, free_shipping
):
    Entitlement.objects.create(benefit=free_shipping, tier=ladder["silver"], quantity=2, period="monthly")
    welcome = campaign(name="升级礼", trigger=Campaign.Trigger.TIER_UPGRADE, bonus_points=300)
    purchase_process(buy(member, "999"), at=NOW)
    assert not MemberTier.objects.filter(member=member, tier=ladder["silver"]).exists()
    purchase_process(buy(member, "1"), at=NOW)
    assert MemberTier.objects.get(member=member).tier == ladder["silver"]
    assert Coupon.objects.filter(member=member, benefit=free_shipping).count() == 2
    assert held(member) == 1000 + 300
    assert AwardLine.objects.get(campaign=welcome).amount == 300


def test_control_group_gets_nothing_and_is_the_same_members_every_time(db):
    promo = campaign(name="双倍", multiplier=Decimal(2), holdout_percent=50)
    members = [MemberFactory() for _ in range(40)]
    for m in members:
        purchase_process(buy(m, "100"), at=NOW)
        purchase_process(buy(m, "100"), at=NOW)
    control = set(
        Participation.objects.filter(campaign=promo, control=True).values_list("member_id", flat=True)
    )
    assert 8 <= len(control) <= 32 and Participation.objects.filter(campaign=promo).count() == 40
    for m in members:
        expected = 200 if m.pk in control else 400
        assert held(m) == expected


def test_a_coupon_campaign_counts_its_times_and_stops_with_its_budget(member, twenty_off):
    coupon_once = campaign(name="满100送券", benefit=twenty_off, member_max_times=1)
    budgeted = campaign(name="限量送券", benefit=twenty_off, bonus_points=10, budget_points=10)
    first = purchase_process(buy(member, "100"), at=NOW)
    second = purchase_process(buy(member, "100"), at=NOW)
    assert first.lines.filter(campaign=coupon_once).exclude(coupon=None).count() == 1
    assert not second.lines.filter(campaign=coupon_once).exists()
    assert not second.lines.filter(campaign=budgeted).exists()  # budget spent: no coupon either
    assert Coupon.objects.filter(member=member).count() == 2
    assert "满100送券: coupon 满100减20" in texts(first)


def test_a_closed_member_earns_nothing_and_is_told_why(member):
    from members.errors import MemberClosed

    purchase = buy(member, "100")
    Member.objects.filter(pk=member.pk).update(status=Member.Status.CLOSED)
    with pytest.raises(MemberClosed, match="is closed") as refused:
        purchase_process(purchase, at=NOW)
    assert (refused.value.code, refused.value.details) == ("member_closed", {"field": "member"})
    assert not Award.objects.exists() and not Entry.objects.exists()


def test_registration_event_runs_behaviour_rule_and_registration_campaigns_once(member):
    from campaigns.models import BehaviourRule
    from members.purchases.models import EventType

    registration = EventType.objects.get(code="registration")
    points = PointType.objects.get(code="points")
    BehaviourRule.objects.create(
        event_type=registration, point_type=points, amount=50, cap=1, cap_period="ever"
    )
    welcome = campaign(name="注册礼", trigger=Campaign.Trigger.REGISTRATION, bonus_points=100, growth=10)
    event, _ = event_record(member=member, event_type="registration", key=f"reg:{member.pk}", occurred_at=NOW)
    award = event_process(event, at=NOW)
    assert event_process(event, at=NOW) == award
    assert held(member) == 150 and held(member, "growth") == 10
    assert texts(award) == ["注册 +50 积分", "注册礼 +100 积分", "注册礼 +10 成长值"]
    assert welcome.participations.get().member == member
