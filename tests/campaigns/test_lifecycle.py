"""A campaign's life (only approved ones go live, never approved by their author), simulation, results."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from campaigns.earning.pipeline import purchase_process, refund_process
from campaigns.models import Campaign
from campaigns.results import campaign_results
from campaigns.services import allowed_actions, campaigns_due, lifecycle_transition
from campaigns.simulation import campaign_simulate
from config.common.roles import Role
from tests.campaigns.conftest import NOW, buy, campaign, refund
from tests.factories import MemberFactory
from tests.tiers.conftest import local

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(author) -> Campaign:
    return campaign(status=Campaign.Status.DRAFT, created_by=author, multiplier=Decimal(2),
                    starts_at=local(2026, 12, 1), ends_at=local(2026, 12, 13))  # fmt: skip


def test_draft_to_live_needs_an_approver_who_is_not_the_author(draft, author, make_user):
    approver = make_user(Role.APPROVER, username="approver")
    author.groups.add(*approver.groups.all())  # the author may approve others' campaigns, never their own
    author = type(author).objects.get(pk=author.pk)
    lifecycle_transition(draft, "submit", actor=author, at=NOW)
    assert "approve" not in allowed_actions(draft, author)
    with pytest.raises(PermissionDenied, match="own campaign"):
        lifecycle_transition(draft, "approve", actor=author, at=NOW)
    with pytest.raises(PermissionDenied, match="not possible"):
        lifecycle_transition(draft, "schedule", actor=author, at=NOW)  # not approved yet
    lifecycle_transition(draft, "approve", actor=approver, at=NOW)
    scheduled = lifecycle_transition(draft, "schedule", actor=author, at=NOW)
    assert scheduled.status == Campaign.Status.SCHEDULED and scheduled.approved_by == approver
    assert campaigns_due(local(2026, 12, 1, 0, 1)) == 1
    assert Campaign.objects.get(pk=draft.pk).status == Campaign.Status.ACTIVE
    assert campaigns_due(local(2026, 12, 1, 0, 2)) == 0
    assert campaigns_due(local(2026, 12, 13)) == 1
    assert Campaign.objects.get(pk=draft.pk).status == Campaign.Status.ENDED
    history = [
        (h.status, h.history_user, h.history_change_reason) for h in draft.history.order_by("history_id")
    ]
    assert [status for status, _user, _reason in history] == [
        "draft", "submitted", "approved", "scheduled", "active", "ended",
    ]  # fmt: skip
    assert history[2][1] == approver and history[1][1] == author


def test_a_draft_gives_nothing_and_a_paused_campaign_stops_giving(draft, author, make_user, member):
    Campaign.objects.filter(pk=draft.pk).update(starts_at=local(2026, 1, 1))
    purchase_process(buy(member, "100"), at=NOW)
    assert not draft.lines.exists()
    approver = make_user(Role.APPROVER, username="approver")
    for action, actor in (("submit", author), ("approve", approver), ("schedule", author)):
        lifecycle_transition(draft, action, actor=actor, at=NOW)
    purchase_process(buy(member, "100"), at=NOW)
    assert draft.lines.get().amount == 100
    lifecycle_transition(draft, "pause", actor=author, at=NOW)
    purchase_process(buy(member, "100"), at=NOW)
    assert draft.lines.count() == 1


def test_submitting_an_incomplete_campaign_names_the_fields(author):
    bad = campaign(status=Campaign.Status.DRAFT, created_by=author, trigger=Campaign.Trigger.EVENT,
                   min_paid=Decimal(100), weekdays=[8])  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        lifecycle_transition(bad, "submit", actor=author)
    assert set(refused.value.message_dict) >= {"event_type", "min_paid", "weekdays", "bonus_points"}
    assert Campaign.objects.get(pk=bad.pk).status == Campaign.Status.DRAFT


def test_ending_early_stops_later_facts(author, member):
    live = campaign(created_by=author, bonus_points=10)
    lifecycle_transition(live, "end", actor=author, at=NOW)
    purchase_process(buy(member, "100", at=NOW + datetime.timedelta(minutes=5)), at=NOW)
    late = purchase_process(
        buy(member, "100", at=NOW - datetime.timedelta(hours=1)), at=NOW
    )  # before the end
    assert list(live.lines.values_list("award_id", flat=True)) == [late.pk]


def test_simulation_forecasts_cost_reach_and_budget_without_writing(author):
    members = [MemberFactory() for _ in range(3)]
    for day, m in enumerate(members * 2, start=1):
        purchase_process(buy(m, "200", at=local(2026, 10, day, 12)), at=local(2026, 10, day, 13))
    draft = campaign(status=Campaign.Status.DRAFT, created_by=author, bonus_points=150, budget_points=700,
                     starts_at=local(2027, 1, 1), ends_at=local(2027, 2, 1))  # fmt: skip
    entries_before = list(draft.lines.all())
    sim = campaign_simulate(draft, start=local(2026, 10, 1), end=local(2026, 11, 1))
    assert (sim.purchases, sim.sales, sim.points, sim.reached) == (6, Decimal(1200), 700, 3)
    assert sim.cny == Decimal("7.00") and sim.cost_share == Decimal("7") / 1200
    assert sim.budget_ran_out_at == local(2026, 10, 5, 12)
    assert entries_before == list(draft.lines.all()) == []


def test_results_count_participants_cost_and_uplift_against_control(author):
    promo = campaign(created_by=author, bonus_points=100, holdout_percent=50, budget_points=100_000)
    members = [MemberFactory() for _ in range(30)]
    purchases = [buy(m, "100") for m in members]
    for p in purchases:
        purchase_process(p, at=NOW)
    treated = promo.participations.filter(control=False).values_list("member_id", flat=True)
    returned = next(p for p in purchases if p.member_id in set(treated))
    refund_process(refund(returned, "100"), at=NOW)
    results = campaign_results(promo, now=NOW + datetime.timedelta(days=1))
    assert results.participants + results.control == 30 and results.control > 0
    given = 100 * results.participants - 100  # the refund took its bonus back
    assert results.points == given and results.budget_points_left == 100_000 - given
    assert results.sales_per_control == Decimal(100)
    assert results.sales_per_participant == Decimal(100) * (results.participants - 1) / results.participants
    assert results.uplift < 0  # everyone spent the same, and one participant returned it
