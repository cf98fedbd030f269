"""Earn-multiplier benefits (权益 "积分加倍") held by a tier or a running paid plan multiply the
base points of redeemable point types, like the tier's own multiplier. The highest multiplier
the member holds applies (they do not multiply each other); the award line says which benefit
of which tier or plan gave it. Preview, single path and import batch path agree."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from benefits.models import Benefit, Entitlement
from campaigns.earning.batch import purchases_process_many
from campaigns.earning.pipeline import purchase_process, refund_process
from campaigns.earning.previews import purchase_preview
from campaigns.selectors import rule_book
from tests.campaigns.conftest import NOW, buy, refund
from tests.campaigns.test_batch import AT, both_ways
from tests.campaigns.test_pipeline import gold, held, texts
from tests.factories import MemberFactory
from tests.tiers.conftest import local
from tiers.models import Plan
from tiers.services import tier_override
from tiers.subscriptions import subscription_start

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)


def multiplier(name: str, value: str, *, tier=None, plan=None, period="monthly") -> Benefit:
    benefit = Benefit.objects.create(name=name, kind=Benefit.Kind.EARN_MULTIPLIER, value=Decimal(value))
    Entitlement.objects.create(benefit=benefit, tier=tier, plan=plan, period=period)
    return benefit


@pytest.fixture
def plus(db) -> Plan:
    """A paid plan that grants no tier, only benefits."""
    return Plan.objects.create(code="plus", name="PLUS会员", price="199.00", duration_months=1)


def test_a_tier_benefit_multiplies_base_points_and_says_so(member, ladder):
    multiplier("双倍积分", "2", tier=ladder["gold"])
    gold(member, ladder)  # 金卡 ×1.5 on its own
    award = purchase_process(buy(member, "1000"), at=NOW)
    assert held(member) == 1000 + 1000  # ×2: the higher of 1.5 and 2
    assert held(member, "growth") == 1000  # growth is never multiplied
    assert "金卡 双倍积分 ×2 +1,000 积分" in texts(award)


def test_a_running_paid_plan_benefit_applies_while_it_runs(member, ladder, plus):
    multiplier("PLUS 1.8倍积分", "1.8", plan=plus)
    gold(member, ladder)
    subscription = subscription_start(member, plan=plus, payment_ref="WX-1", at=NOW - DAY)
    during = purchase_process(buy(member, "1000", at=NOW), at=NOW)
    assert "PLUS会员 PLUS 1.8倍积分 ×1.8 +800 积分" in texts(during)
    after_end = subscription.ends_at + DAY
    later = purchase_process(buy(member, "1000", at=after_end), at=after_end)
    assert "金卡 ×1.5 +500 积分" in texts(later)  # the plan ran out: the tier's own
    assert held(member) == 1800 + 1500


def test_the_highest_multiplier_applies_they_do_not_multiply(member, ladder, plus):
    multiplier("PLUS 1.2倍积分", "1.2", plan=plus)
    gold(member, ladder)
    subscription_start(member, plan=plus, payment_ref="WX-2", at=NOW - DAY)
    award = purchase_process(buy(member, "1000"), at=NOW)
    assert held(member) == 1000 + 500  # ×1.5, not ×1.5×1.2 = ×1.8
    assert "金卡 ×1.5 +500 积分" in texts(award)


def test_an_inactive_benefit_or_entitlement_gives_nothing(member, ladder):
    benefit = multiplier("双倍积分", "2", tier=ladder["member"])
    Benefit.objects.filter(pk=benefit.pk).update(active=False)
    purchase_process(buy(member, "100"), at=NOW)
    assert held(member) == 100


def test_a_birthday_month_benefit_applies_in_the_birthday_month_only(ladder):
    multiplier("生日月双倍", "2", tier=ladder["member"], period=Entitlement.Period.BIRTHDAY)
    november, march = (
        MemberFactory(birthday=datetime.date(1990, 11, 3)),
        MemberFactory(birthday=datetime.date(1990, 3, 3)),
    )
    purchase_process(buy(november, "100"), at=NOW)  # NOW is in November
    purchase_process(buy(march, "100"), at=NOW)
    assert (held(november), held(march)) == (200, 100)


def test_preview_promises_what_the_purchase_earns(member, ladder, plus):
    multiplier("PLUS 三倍积分", "3", plan=plus)
    subscription_start(member, plan=plus, payment_ref="WX-3", at=NOW - DAY)
    preview = purchase_preview(member, channel="store", paid=Decimal("333.33"), at=NOW)
    award = purchase_process(buy(member, "333.33"), at=NOW)
    assert preview.texts == texts(award)
    assert preview.totals == {"points": 333 + 666, "growth": 333}


def test_a_refund_takes_back_the_benefits_points_in_proportion(member, ladder):
    multiplier("双倍积分", "2", tier=ladder["member"])
    purchase = buy(member, "1000")
    purchase_process(purchase, at=NOW)
    award = refund_process(refund(purchase, "250"), at=NOW + DAY)
    assert held(member) == 2000 - 500
    assert "普通会员 双倍积分 ×2 −250 积分 · refund of 25% of the purchase" in texts(award)


def test_the_import_batch_path_gives_what_the_single_path_gives(ladder, plus):
    multiplier("银卡双倍", "2", tier=ladder["silver"])
    multiplier("PLUS 1.8倍积分", "1.8", plan=plus)
    members = [MemberFactory() for _ in range(3)]
    subscription_start(members[1], plan=plus, payment_ref="WX-4", at=NOW - 40 * DAY)  # ends in between
    tier_override(
        member=members[2],
        tier=ladder["gold"],
        until=local(2027, 6, 1),
        reason="status match",
        at=NOW,
        actor=None,
    )
    plan = [(0, "600", 30), (1, "300", 30), (0, "700", 20), (1, "250", 5), (2, "100", 1), (0, "10", 1)]
    purchases = [buy(members[m], paid, at=NOW - days * DAY) for m, paid, days in plan]
    one_by_one, batched = both_ways(purchases)
    assert one_by_one == batched
    params = [line[-1] for line in batched["lines"] if line[1] == "tier"]
    assert {p.get("benefit") for p in params} >= {"银卡双倍", "PLUS 1.8倍积分"}


def test_purchases_process_many_uses_the_same_state(member, ladder):
    multiplier("双倍积分", "2", tier=ladder["member"])
    [award] = purchases_process_many([buy(member, "50")], book=rule_book(), at=AT)
    assert held(member) == 100 and "普通会员 双倍积分 ×2 +50 积分" in texts(award)
