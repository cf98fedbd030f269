"""State machines as data (``config.common.states``): each model's moves in one table, and the
tables of the campaign lifecycle, redemptions, coupons and import runs as the services use them."""

from __future__ import annotations

import datetime

import pytest
from django.db.models import Q

from benefits.models import Coupon, Redemption
from campaigns.models import LIFECYCLE, Campaign, lifecycle_move
from config.common.states import TransitionRefused, Transitions, transition
from members.imports.models import ImportRun

R, C, RUN = Redemption.Status, Campaign.Status, ImportRun.Status
NOW = datetime.datetime(2026, 6, 1, 12, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


class Row:
    pk = 7

    def __init__(self, status: str) -> None:
        self.status = status


def test_a_move_the_table_allows_is_made_and_any_other_refused():
    table = Transitions({"a": ("b",), "b": ("c",)})
    row = Row("a")
    transition(row, "b", table=table)
    assert row.status == "b"
    with pytest.raises(TransitionRefused) as refused:
        transition(row, "a", table=table)
    assert row.status == "b" and refused.value.code == "invalid_transition"
    assert table.sources("c") == ("b",) and table.final("c") and not table.final("a")


def test_set_based_moves_filter_on_the_statuses_the_table_moves_from():
    assert Coupon.MOVES.may_move_to(Coupon.Status.EXPIRED) == Q(status="issued")
    assert ImportRun.MOVES.sources(RUN.RUNNING) == (RUN.QUEUED, RUN.RUNNING, RUN.FAILED)
    assert ImportRun.MOVES.may_move_to(RUN.RUNNING) == Q(status__in=("queued", "running", "failed"))


@pytest.mark.parametrize("model", [Coupon, Redemption, ImportRun], ids=lambda model: model.__name__)
def test_each_table_speaks_of_its_own_statuses_only(model):
    statuses = set(model.Status.values)
    for source, targets in model.MOVES.table.items():
        assert source in statuses and targets <= statuses, (source, targets)


def test_a_redemption_is_cancelled_only_before_it_ships():
    assert set(Redemption.MOVES.sources(R.CANCELLED)) == {R.REQUESTED, R.COMPLETED}
    assert Redemption.MOVES.final(R.DELIVERED) and Redemption.MOVES.final(R.CANCELLED)


def test_the_lifecycle_names_every_status_and_buttons_never_take_the_clocks_steps():
    reached = {target for step in LIFECYCLE.values() for target in step.targets}
    assert reached | {C.DRAFT} == set(C.values)
    assert {action for action, step in LIFECYCLE.items() if step.by == "clock"} == {"start", "finish"}


@pytest.mark.parametrize(
    "starts, ends, expected",
    [
        (NOW + DAY, NOW + 2 * DAY, C.SCHEDULED),
        (NOW - DAY, NOW + DAY, C.ACTIVE),
        (NOW - 2 * DAY, NOW - DAY, C.ENDED),
    ],
    ids=["before-its-start", "within-its-window", "after-its-end"],
)
def test_scheduling_goes_by_the_clock(starts, ends, expected):
    campaign = Campaign(status=C.APPROVED, starts_at=starts, ends_at=ends)
    assert lifecycle_move(campaign, "schedule", NOW) == expected and campaign.status == expected


def test_a_step_from_the_wrong_status_is_refused_and_moves_nothing():
    campaign = Campaign(status=C.DRAFT, starts_at=NOW, ends_at=NOW + DAY)
    with pytest.raises(TransitionRefused):
        lifecycle_move(campaign, "approve", NOW)
    assert campaign.status == C.DRAFT
