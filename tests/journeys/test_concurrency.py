"""Journeys racing on PostgreSQL: two runs of the job at once move each entry once, and a run
that gives points and then messages never deadlocks with a purchase of the same member. Each
lock test has its control beside it (``[control]``): the lock off, showing the harm.
"""

from __future__ import annotations

import datetime

import pytest
from django.db import connection, transaction

from benefits.models import Coupon
from campaigns.journeys.models import Journey, JourneyEntry, JourneyStep
from campaigns.journeys.services import journeys_advance
from members.messaging.models import Template
from members.models import Member
from points.models import PointType, Source
from points.services import points_earn
from tests.concurrency import LOCKED_AND_CONTROL, race, unless
from tests.factories import MemberFactory
from tests.journeys.test_journeys import NOW

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and races need PostgreSQL"),
]


def live(code: str, steps: list[dict]) -> Journey:
    journey = Journey.objects.create(
        code=code, name=code, status="active", trigger="enrolment",
        starts_at=NOW - datetime.timedelta(days=1), ends_at=NOW + datetime.timedelta(days=30),
    )  # fmt: skip
    for position, step in enumerate(steps, start=1):
        JourneyStep.objects.create(journey=journey, position=position, **step)
    return journey


def enter(journey: Journey, member: Member) -> None:
    JourneyEntry.objects.create(journey=journey, member=member, entered_at=NOW, due_at=NOW)


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_runs_at_once_move_each_entry_once(locked: bool):
    benefit = Journey.objects.get(code="win-back").steps.get(kind="coupon").benefit
    journey = live("race", [{"kind": "coupon", "benefit": benefit}])
    members = [MemberFactory() for _ in range(3)]
    for member in members:
        enter(journey, member)
    with unless(locked, "campaigns/journeys/services.py::journeys_advance"):
        moved = race(2, lambda i: journeys_advance(now=NOW), meet=r'^INSERT INTO "benefits_coupon"')
    if locked:
        assert sum(moved) == 3  # each entry moved by one run (which one depends on who locked it first)
        assert Coupon.objects.count() == 3
    else:
        assert moved == [3, 3] and Coupon.objects.count() == 6  # a second coupon each


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_points_then_a_message_do_not_deadlock_with_a_purchase(locked: bool):
    """The run locks its members before any account, as the earning pipeline does (member, then
    accounts): without that, the run holds the account and waits for the member the purchase
    holds, while the purchase waits for the account."""
    template = Template.objects.get(code="welcome", language="zh-hans")
    journey = live("deadlock", [
        {"kind": "points", "point_type": PointType.objects.get(code="points"), "points": 100},
        {"kind": "message", "template": template},
    ])  # fmt: skip
    member = MemberFactory(consents={"sms": True})
    enter(journey, member)

    def purchase() -> str:
        with transaction.atomic():
            Member.objects.select_for_update().get(pk=member.pk)
            points_earn(
                member=member, point_type="points", amount=10, source=Source.OPERATOR,
                idempotency_key="till-1", at=NOW, available_at=NOW,
            )  # fmt: skip
        return "bought"

    work = [lambda: journeys_advance(now=NOW), purchase]
    with unless(locked, "campaigns/journeys/services.py::_advance"):
        results = race(
            2,
            lambda i: work[i](),
            meet=[r'FROM "members_member".* FOR UPDATE', r'FROM "points_account".* FOR UPDATE'],
        )
    if locked:
        assert results == [1, "bought"]
    else:
        assert any("deadlock" in str(r) for r in results), results
