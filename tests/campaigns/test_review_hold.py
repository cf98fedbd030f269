"""Review holds: an award above the operator's limit is recorded and explained, its points wait
for an approver; releasing posts exactly what was held (less refunds since), rejecting nothing.

The default limits (migration): 20,000 积分 and 20,000 成长值 for every channel and store.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied

from campaigns.earning.pipeline import event_process, purchase_process, refund_process
from campaigns.earning.reviews import ReviewDecided, award_reject, award_release
from campaigns.models import Award, AwardReview, ReviewLimit
from members.models import Channel
from members.purchases.models import EventType
from members.purchases.services import event_record
from points.models import Account, Entry, PointType
from points.selectors import ledger_problems
from tests.campaigns.conftest import NOW, buy, campaign, refund
from tiers.models import MemberTier

pytestmark = pytest.mark.django_db

LATER = NOW + datetime.timedelta(hours=3)


def balance(member, code="points") -> int:
    account = Account.objects.filter(member=member, point_type__code=code).first()
    return account.available + account.pending if account else 0


def test_defaults_hold_above_20000_and_not_at_20000(member):
    assert set(ReviewLimit.objects.values_list("point_type__code", "above")) == {
        ("points", 20000),
        ("growth", 20000),
    }
    at_limit = purchase_process(buy(member, "20000.99"), at=NOW)  # 20,000 points: not above
    assert not AwardReview.objects.filter(award=at_limit).exists()
    assert balance(member) == 20000

    above = purchase_process(buy(member, "20001"), at=NOW)
    review = AwardReview.objects.get(award=above)
    assert review.status == AwardReview.Status.HELD
    assert review.points == {"points": 20001, "growth": 20001}
    assert review.limits == {"points": 20000, "growth": 20000}
    assert balance(member) == 20000 and balance(member, "growth") == 20000  # nothing of it posted
    assert above.lines.count() == 2  # explained as usual: base 积分 and base 成长值
    assert not ledger_problems()


def test_held_points_are_not_counted_for_tiers_until_released(member, ladder, approver):
    purchase = buy(member, "25000")
    award = purchase_process(purchase, at=NOW)
    assert not MemberTier.objects.filter(member=member).exists()  # still 普通会员: 0 growth posted
    assert Entry.objects.filter(account__member=member).count() == 0

    review = award_release(award.review, actor=approver, at=LATER, note="checked the till roll")
    assert (review.status, review.decided_by, review.note) == (
        AwardReview.Status.RELEASED,
        approver,
        "checked the till roll",
    )
    assert balance(member) == 25000 and balance(member, "growth") == 25000
    points = Account.objects.get(member=member, point_type__code="points")
    # the return window (7 days) counts from the purchase, not from the release
    assert points.pending == 25000
    assert MemberTier.objects.get(member=member).tier == ladder["diamond"]  # 25,000 ≥ 钻石's 20,000
    entries = Entry.objects.filter(account__member=member)
    assert sorted(entries.values_list("amount", flat=True)) == [25000, 25000]
    assert set(entries.values_list("idempotency_key", flat=True)) == {
        f"{award.key}:points",
        f"{award.key}:growth",
    }  # the keys the pipeline would have used: the fact still posts once
    assert not ledger_problems()


def test_reject_posts_nothing_and_a_decision_is_final(member, approver):
    award = purchase_process(buy(member, "1000000"), at=NOW)
    award_reject(award.review, actor=approver, at=LATER, note="test row from the POS vendor")
    assert balance(member) == 0 and balance(member, "growth") == 0
    assert not Entry.objects.exists()
    with pytest.raises(ReviewDecided):
        award_release(AwardReview.objects.get(award=award), actor=approver, at=LATER)
    with pytest.raises(ReviewDecided):
        award_reject(AwardReview.objects.get(award=award), actor=approver, at=LATER)
    assert not Entry.objects.exists()


def test_release_posts_what_is_left_after_refunds_meanwhile(member, approver):
    purchase = buy(member, "30000")
    award = purchase_process(purchase, at=NOW)
    refund_process(refund(purchase, "10000"), at=NOW + datetime.timedelta(days=1))
    assert balance(member) == 0  # the refund reversed nothing: nothing was posted
    award_release(award.review, actor=approver, at=NOW + datetime.timedelta(days=2))
    assert balance(member) == 20000 and balance(member, "growth") == 20000  # 30,000 - 10,000
    # a refund after the release takes back from what was posted, as usual
    refund_process(refund(purchase, "5000"), at=NOW + datetime.timedelta(days=3))
    assert balance(member) == 15000
    assert not ledger_problems()


def test_a_rejected_purchase_refunded_later_moves_nothing_and_budgets_come_back(member, approver):
    bonus = campaign(name="满额送", bonus_points=500, budget_points=10_000)
    purchase = buy(member, "30000")
    award = purchase_process(purchase, at=NOW)
    bonus.refresh_from_db()
    assert bonus.spent_points == 500  # reserved while it waits
    award_reject(award.review, actor=approver, at=LATER)
    bonus.refresh_from_db()
    assert bonus.spent_points == 0
    refund_process(refund(purchase, "30000"), at=NOW + datetime.timedelta(days=1))
    bonus.refresh_from_db()
    assert bonus.spent_points == 0  # not given back twice
    assert not Entry.objects.exists()


def test_a_store_limit_beats_the_channel_limit_which_beats_the_default(member, store):
    points = ReviewLimit.objects.get(point_type__code="points", channel="", store=None)
    points.above = 100
    points.save()
    ReviewLimit.objects.filter(point_type__code="growth").update(above=1_000_000)
    ReviewLimit.objects.create(point_type=points.point_type, channel=Channel.STORE, above=200)
    ReviewLimit.objects.create(point_type=points.point_type, channel=Channel.STORE, store=store, above=300)
    at_store = purchase_process(buy(member, "250", store=store), at=NOW)
    elsewhere = purchase_process(buy(member, "250"), at=NOW)
    online = purchase_process(buy(member, "150", channel=Channel.TMALL), at=NOW)
    assert not AwardReview.objects.filter(award=at_store).exists()  # 250 ≤ the store's 300
    assert AwardReview.objects.get(award=elsewhere).limits == {"points": 200}  # the channel's
    assert AwardReview.objects.get(award=online).limits == {"points": 100}  # the default


def test_only_approvers_decide(member, operator, store_staff):
    award = purchase_process(buy(member, "50000"), at=NOW)
    for user in (operator, store_staff):
        with pytest.raises(PermissionDenied):
            award_release(award.review, actor=user)
    assert AwardReview.objects.get(award=award).status == AwardReview.Status.HELD


def test_behaviour_events_are_held_too(member, approver):
    from campaigns.models import BehaviourRule

    survey = EventType.objects.create(code="survey", name="问卷")
    BehaviourRule.objects.create(
        event_type=survey, point_type=PointType.objects.get(code="points"), amount=50_000
    )
    event, _created = event_record(
        member=member, event_type="survey", key="s-1", occurred_at=NOW, channel="app"
    )
    award = event_process(event, at=NOW)
    assert AwardReview.objects.get(award=award).points == {"points": 50000}
    assert balance(member) == 0
    award_release(award.review, actor=approver, at=LATER)
    assert Account.objects.get(member=member, point_type__code="points").available == 50000


def test_the_award_is_explained_while_held(member):
    award = purchase_process(buy(member, "1000000"), at=NOW)
    assert Award.objects.get(pk=award.pk).lines.filter(point_type__code="points").get().amount == 1_000_000
    assert Decimal(1_000_000) == Decimal(AwardReview.objects.get(award=award).points["points"])
