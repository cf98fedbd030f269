"""An approver's decision and a refund of the same held purchase at the same moment, on
PostgreSQL: whichever goes first, the member ends with what the purchase earned less the
refund's share, and campaign budgets get back exactly what was reserved. The member's lock,
taken first by decisions and facts alike, orders them (without it a release could post the
whole award while the refund, still seeing it held, reverses nothing).
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from campaigns.earning import pipeline
from campaigns.earning.pipeline import purchase_process, refund_process
from campaigns.earning.reviews import award_reject, award_release
from campaigns.models import AwardReview
from points.models import Account
from points.selectors import ledger_problems
from tests.campaigns.conftest import NOW, buy, campaign, refund
from tests.concurrency import LOCKED_AND_CONTROL, race, unless
from tests.factories import MemberFactory

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and races need PostgreSQL"),
]

#: How long the paused refund waits for the decision before going on (with the lock, the
#: decision waits for the refund's commit, so the refund always waits this long).
PAUSE = 3.0


@pytest.fixture
def refund_paused(monkeypatch):
    """The refund stops right after it saw the award's review status, until the decision in the
    other thread is done (or ``PAUSE`` passed): the interleaving that loses without the lock."""
    seen, decided = threading.Event(), threading.Event()
    given_back = pipeline.refund_given_back

    def pause(*args, **kwargs):
        seen.set()
        decided.wait(PAUSE)
        return given_back(*args, **kwargs)

    monkeypatch.setattr(pipeline, "refund_given_back", pause)
    return seen, decided


def race_decision(decide, returned, events):
    seen, decided = events

    def work(i: int):
        if i == 1:
            return refund_process(returned)
        seen.wait(PAUSE)
        try:
            return decide()
        finally:
            decided.set()

    results = race(2, work)
    assert not [r for r in results if isinstance(r, Exception)], results


def balance(member, code="points") -> int:
    account = Account.objects.filter(member=member, point_type__code=code).first()
    return account.available + account.pending if account else 0


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_a_release_and_a_refund_at_once_leave_the_purchase_less_the_refund(locked, approver, refund_paused):
    member = MemberFactory()
    purchase = buy(member, "30000")
    review = purchase_process(purchase, at=NOW).review
    with unless(locked, "campaigns/earning/reviews.py::award_release"):
        race_decision(lambda: award_release(review, actor=approver), refund(purchase, "10000"), refund_paused)
    # without the lock the release posts all 30,000 while the refund, having seen it held,
    # reverses nothing: 10,000 points nobody paid for
    assert balance(member) == balance(member, "growth") == (20_000 if locked else 30_000)
    assert ledger_problems() == {}


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_a_rejection_and_a_refund_at_once_give_the_budget_back_once(locked, approver, refund_paused):
    bonus = campaign(name="满额送", bonus_points=100, budget_points=100_000)
    member = MemberFactory()
    purchase = buy(member, "30000")
    review = purchase_process(purchase, at=NOW).review
    with unless(locked, "campaigns/earning/reviews.py::award_reject"):
        race_decision(lambda: award_reject(review, actor=approver), refund(purchase, "30000"), refund_paused)
    assert AwardReview.objects.get(pk=review.pk).status == AwardReview.Status.REJECTED
    bonus.refresh_from_db()
    # without the lock both give the 100 back: the budget would grant 100 points too many
    assert bonus.spent_points == (0 if locked else -100)
    assert balance(member) == 0
