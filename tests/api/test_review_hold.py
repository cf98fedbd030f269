"""An API purchase above the review limit (default 20,000 积分 / 成长值): 201, recorded and
explained, the hold stated, balances unchanged; the approver's release posts exactly that."""

from __future__ import annotations

import pytest

from campaigns.earning.reviews import award_release
from campaigns.models import AwardReview
from points.models import Entry
from tests.api.test_purchases import URL, body, served_by

pytestmark = pytest.mark.django_db


def test_a_purchase_above_the_limit_is_recorded_and_held(partner_a, approver):
    member = served_by(partner_a)
    response = partner_a.post(URL, body(member, gross_amount="30000.00", paid_amount="30000.00"))
    assert response.status_code == 201, response.json()
    answer = response.json()
    assert answer["award"]["totals"] == {"points": 30000, "growth": 30000}  # what it earned, explained
    assert answer["review"] == {
        "status": "held",
        "reason": "over_limit",
        "points": {"points": 30000, "growth": 30000},
        "limits": {"points": 20000, "growth": 20000},
        "message": "Held for review: 30,000 积分 is above the review limit of 20,000; 30,000 成长值 is "
        "above the review limit of 20,000. Nothing is posted until an approver releases it.",
    }
    assert all(b["available"] == b["pending"] == 0 for b in answer["balances"])  # nothing moved
    assert not Entry.objects.exists()

    review = AwardReview.objects.get(member=member)
    award_release(review, actor=approver)
    detail = partner_a.get(f"{URL}A-0001/").json()
    assert detail["award"]["totals"] == {"points": 30000, "growth": 30000}
    sheet = partner_a.get(f"/api/v1/members/{member.member_number}/balances/").json()
    balances = {b["point_type"]: b for b in sheet["balances"]}
    assert balances["points"]["pending"] + balances["points"]["available"] == 30000


def test_a_purchase_below_the_limit_states_no_hold(partner_a):
    member = served_by(partner_a)
    answer = partner_a.post(URL, body(member)).json()
    assert answer["review"] is None
