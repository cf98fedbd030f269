"""Two referees of one referrer buying at once, with a cap of one rewarded referee per referrer:
exactly one reward (PostgreSQL). Beside it the control: the same race with the locks off gives
two. Two locks stand in the way, each enough on its own: the referrer's member row (locked with the
referee's in one statement) and the referrer's points accounts (locked with the referee's before
the referrer's usage is read); the control turns off both."""

from __future__ import annotations

import pytest
from django.db import connection

from campaigns.earning.pipeline import purchase_process
from campaigns.models import Award, Campaign
from members.referrals.models import Referral
from members.referrals.services import referral_code_get, referral_link
from points.models import Account
from points.selectors import ledger_problems
from tests.campaigns.conftest import NOW, buy, campaign
from tests.concurrency import LOCKED_AND_CONTROL, errors, race, unless
from tests.factories import MemberFactory

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and races need PostgreSQL"),
]


def referral_award_insert(sql: str, params) -> bool:
    """The referrer's award being written: each thread has read the referrer's usage by then."""
    return sql.startswith('INSERT INTO "campaigns_award"') and any(
        "referral:" in str(p) for p in params or ()
    )


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_referees_buying_at_once_with_a_cap_of_one_reward_the_referrer_once(locked):
    referrer = MemberFactory()
    # the referrer's accounts exist (else two first inserts of them would take turns on the index)
    purchase_process(buy(referrer, "10.00"), at=NOW)  # pending for the return window
    code = referral_code_get(referrer)
    referees = [MemberFactory(), MemberFactory()]
    for referee in referees:
        referral_link(referee, code)
    campaign(code="invite", trigger=Campaign.Trigger.REFERRAL, bonus_points=100, member_max_times=1)
    purchases = [buy(referee, "20.00") for referee in referees]

    with unless(
        locked,
        "campaigns/earning/pipeline.py::_process",
        "points/services/common.py::lock_accounts_many.locked",
    ):
        results = race(2, lambda i: purchase_process(purchases[i], at=NOW), meet=referral_award_insert)

    assert not errors(results), results
    rewarded = Award.objects.filter(key__startswith="referral:", lines__amount__gt=0).distinct().count()
    if locked:
        account = Account.objects.get(member=referrer, point_type__code="points")
        assert rewarded == 1 and account.available == 100
        assert Referral.objects.filter(settled_at__isnull=False).count() == 2
        assert ledger_problems() == {}
    else:
        assert rewarded == 2  # the cap read twice before either wrote
