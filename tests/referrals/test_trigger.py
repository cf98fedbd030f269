"""The referral trigger: a referee's first purchase rewards the referrer, within the caps per
referrer; numbers worked out by hand (the default rules: 1 point and 1 growth per CNY)."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.earning.batch import purchases_process_many
from campaigns.earning.pipeline import purchase_process, refund_process
from campaigns.models import Award, Campaign
from campaigns.selectors import rule_book
from members.referrals.models import Referral
from members.referrals.services import referral_code_get, referral_link
from points.models import Account, Entry
from points.selectors import ledger_problems
from tests.campaigns.conftest import NOW, buy, campaign, refund
from tests.factories import MemberFactory
from tests.tiers.conftest import local

pytestmark = pytest.mark.django_db
REFERRAL = Campaign.Trigger.REFERRAL


def points(member) -> int:
    account = Account.objects.filter(member=member, point_type__code="points").first()
    return account.available + account.pending if account else 0


def referred(referrer, count: int) -> list:
    code = referral_code_get(referrer)
    referees = [MemberFactory() for _ in range(count)]
    for referee in referees:
        referral_link(referee, code)
    return referees


def test_the_referrer_is_rewarded_on_the_first_purchase_only():
    referrer = MemberFactory()
    (friend,) = referred(referrer, 1)
    campaign(code="invite", name="邀请有礼", trigger=REFERRAL, bonus_points=100)
    first = purchase_process(buy(friend, "50.00"))
    assert points(referrer) == 100  # the referrer's bonus, available at once
    assert points(friend) == 50  # the referee earns their purchase as anyone does, nothing more
    award = Award.objects.get(key=f"referral:{friend.pk}")
    assert (award.member_id, award.cause_id, award.kind) == (referrer.pk, None, Award.Kind.LIFECYCLE)
    assert Entry.objects.filter(idempotency_key=f"referral:{friend.pk}:points", amount=100).count() == 1
    referral = Referral.objects.get()
    assert referral.first_purchase_id == first.purchase_id and referral.settled_at is not None
    purchase_process(buy(friend, "80.00", at=NOW + datetime.timedelta(days=1)))
    assert points(referrer) == 100 and points(friend) == 130
    # the refund of the first purchase takes the referee's points back, not the referrer's reward
    refund_process(refund(first.purchase, "50.00"))
    assert points(referrer) == 100 and points(friend) == 80
    assert ledger_problems() == {}


def test_a_cap_per_referrer_counts_the_referees_that_rewarded_them():
    referrer = MemberFactory()
    referees = referred(referrer, 3)
    campaign(code="invite", trigger=REFERRAL, bonus_points=100, growth=10, member_max_times=2)
    for referee in referees:
        purchase_process(buy(referee, "20.00"))
    assert points(referrer) == 200  # 2 × 100; the third referee finds the cap reached
    growth = Account.objects.get(member=referrer, point_type__code="growth")
    assert growth.available + growth.pending == 20
    assert Award.objects.filter(key__startswith="referral:", lines__amount__gt=0).distinct().count() == 2
    assert Referral.objects.filter(settled_at__isnull=False).count() == 3  # each settled once
    # another referrer's referee is not counted against this one's cap
    other = MemberFactory()
    (theirs,) = referred(other, 1)
    purchase_process(buy(theirs, "20.00"))
    assert points(other) == 100


def test_a_cap_per_month():
    referrer = MemberFactory()
    october, november_1, november_2 = referred(referrer, 3)
    campaign(
        code="monthly", trigger=REFERRAL, bonus_points=100, member_max_times=1, member_times_period="month"
    )
    purchase_process(buy(october, "20.00", at=local(2026, 10, 30, 12)))
    purchase_process(buy(november_1, "20.00", at=local(2026, 11, 2, 12)))
    purchase_process(buy(november_2, "20.00", at=local(2026, 11, 3, 12)))
    assert points(referrer) == 200  # one in October, one in November


def test_conditions_read_the_referees_purchase_and_the_referee_gets_a_welcome_gift():
    referrer = MemberFactory()
    small, large = referred(referrer, 2)
    stranger = MemberFactory()
    campaign(code="invite", trigger=REFERRAL, bonus_points=100, min_paid="100.00")
    campaign(
        code="welcome",
        trigger=Campaign.Trigger.PURCHASE,
        first_purchase=True,
        referred_only=True,
        bonus_points=30,
    )
    purchase_process(buy(small, "99.99"))
    purchase_process(buy(large, "100.00"))
    purchase_process(buy(stranger, "100.00"))
    assert points(referrer) == 100  # only the ¥100 purchase qualifies
    assert (points(small), points(large), points(stranger)) == (99 + 30, 100 + 30, 100)


def test_a_retried_or_reimported_purchase_rewards_once():
    referrer = MemberFactory()
    friend, other = referred(referrer, 2)
    campaign(code="invite", trigger=REFERRAL, bonus_points=100)
    purchases = [buy(friend, "30.00"), buy(other, "40.00"), buy(MemberFactory(), "10.00")]
    book = rule_book()
    purchases_process_many(purchases, book=book)
    purchases_process_many(purchases, book=book)  # the same chunk again
    purchase_process(purchases[0])  # and one by one
    assert points(referrer) == 200
    assert Entry.objects.filter(account__member=referrer).count() == 2


def test_no_campaign_no_reward_and_no_settling():
    referrer = MemberFactory()
    (friend,) = referred(referrer, 1)
    purchase_process(buy(friend, "30.00"))
    assert points(referrer) == 0
    assert Referral.objects.get().settled_at is None  # nothing looked at the referral


def test_the_purchase_of_a_member_not_referred_costs_no_query_more():
    def queries(member, at) -> int:
        purchase = buy(member, "10.00", at=at)
        book = rule_book()
        with CaptureQueriesContext(connection) as captured:
            purchase_process(purchase, book=book)
        return len(captured)

    member = MemberFactory()
    queries(member, NOW - datetime.timedelta(days=3))  # the member's accounts exist from now on
    without = queries(member, NOW - datetime.timedelta(days=2))
    campaign(code="invite", trigger=REFERRAL, bonus_points=100)
    assert queries(member, NOW - datetime.timedelta(days=1)) == without
