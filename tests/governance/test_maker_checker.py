"""Programme changes under maker-checker: an operator's change waits for someone else's approval,
can be scheduled, and a late fact earns by the rules of its own time."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from campaigns.earning.facts import facts_earn_many
from campaigns.earning.pipeline import purchase_process
from campaigns.models import Award, BehaviourRule, EarnRule
from campaigns.selectors import rule_book
from config.common.governance import (
    NotApprover,
    OwnChange,
    Stale,
    config_change_approve,
    config_change_propose,
    config_changes_apply_due,
)
from config.common.models import ConfigChange
from config.common.roles import Role
from members.purchases.models import EventType
from points.models import AdjustmentRequest, PointType
from points.services import points_adjust
from tests.campaigns.conftest import buy
from tests.conftest import login
from tests.tiers.conftest import local

pytestmark = pytest.mark.django_db

T = local(2026, 11, 1, 9, 0)  # when the doubled rate takes effect


def default_rule() -> EarnRule:
    return EarnRule.objects.get(point_type__code="points", channel="", store=None)


def rule_form(rule: EarnRule, **changes) -> dict:
    form = {"point_type": rule.point_type_id, "channel": "", "store": "", "rate": str(rule.rate),
            "rounding": rule.rounding, "excluded_categories": "", "excluded_skus": "", "active": "on",
            "effective_from_0": "", "effective_from_1": "", "change_note": ""}  # fmt: skip
    return {**form, **changes}


def points_of(award: Award) -> int:
    return sum(line.amount for line in award.lines.all() if line.point_type.code == "points")


def propose_rate(rate: str, actor, **kwargs) -> ConfigChange:
    rule = default_rule()
    rule.rate = Decimal(rate)
    return config_change_propose(instance=rule, fields=["rate"], actor=actor, **kwargs)


def test_an_operators_change_has_no_effect_until_another_person_approves_it(en, operator, approver, member):
    rule = default_rule()
    assert rule.rate == 1
    login(en, operator)
    response = en.post(reverse("admin:campaigns_earnrule_change", args=[rule.pk]),
                       rule_form(rule, rate="2", change_note="双倍积分月"))  # fmt: skip
    change = ConfigChange.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:common_configchange_change", args=[change.pk])
    assert default_rule().rate == 1  # saved as a draft only
    assert (change.status, change.made_by, change.note) == ("submitted", operator, "双倍积分月")
    assert change.changes == [{"field": "rate", "before": "1.0000", "after": "2.0000"}]
    assert points_of(purchase_process(buy(member, "100.00", at=local(2026, 11, 2)))) == 100

    # the approver reads the change as a diff, and approves it
    page = login(en, approver).get(reverse("admin:common_configchange_change", args=[change.pk]))
    assert "<td><del>1</del></td><td><strong>2</strong></td>" in page.content.decode()
    config_change_approve(change=change, actor=approver, at=T)
    assert default_rule().rate == 2
    assert points_of(purchase_process(buy(member, "100.00", at=local(2026, 11, 2)))) == 200
    history = default_rule().history.latest()
    assert (history.history_user, history.history_date) == (operator, T)
    assert str(change.pk) in history.history_change_reason


def test_nobody_approves_their_own_change_not_even_an_administrator(operator, administrator, approver):
    own = propose_rate("3", administrator)
    with pytest.raises(OwnChange):
        config_change_approve(change=own, actor=administrator)
    with pytest.raises(NotApprover):  # an operator is no approver
        config_change_approve(change=propose_rate("4", approver), actor=operator)
    assert default_rule().rate == 1
    assert set(ConfigChange.objects.values_list("status", flat=True)) == {"submitted"}


def test_the_adjuster_cannot_raise_their_own_threshold_and_then_adjust_alone(operator, administrator, member):
    administrator.groups.add(Group.objects.get(name=Role.OPERATOR.value))
    points = PointType.objects.get(code="points")
    assert points.approval_threshold == 1000
    points.approval_threshold = 100_000
    change = config_change_propose(instance=points, fields=["approval_threshold"], actor=administrator)
    with pytest.raises(OwnChange):
        config_change_approve(change=change, actor=administrator)
    result = points_adjust(member=member, point_type="points", amount=50_000, reason="补偿",
                           actor=administrator, idempotency_key="adj-1")  # fmt: skip
    assert isinstance(result, AdjustmentRequest)  # still waits for a second person


def test_a_scheduled_change_takes_effect_at_its_time_through_the_job(approver, operator):
    change = propose_rate("2", operator, effective_from=T, at=T - datetime.timedelta(days=2))
    config_change_approve(change=change, actor=approver, at=T - datetime.timedelta(days=1))
    change.refresh_from_db()
    assert change.status == "scheduled" and default_rule().rate == 1
    assert config_changes_apply_due(at=T - datetime.timedelta(minutes=1)) == 0
    assert default_rule().rate == 1
    assert config_changes_apply_due(at=T + datetime.timedelta(seconds=40)) == 1
    change.refresh_from_db()
    assert (change.status, change.effective_at) == ("applied", T)  # dated from its time, not the job's
    assert default_rule().rate == 2
    assert config_changes_apply_due(at=T + datetime.timedelta(minutes=1)) == 0  # once


def test_a_late_fact_earns_by_the_rules_of_its_time(approver, operator, member):
    change = propose_rate("2", operator, at=T - datetime.timedelta(days=1))
    config_change_approve(change=change, actor=approver, at=T)
    before = buy(member, "100.00", at=T - datetime.timedelta(days=3))  # a receipt imported late
    after = buy(member, "100.00", at=T + datetime.timedelta(hours=1))
    book = rule_book()
    assert book.settings_since == T
    assert points_of(purchase_process(before, book=book)) == 100
    assert points_of(purchase_process(after, book=book)) == 200
    # the import's batch path: the same, in one chunk with both kinds
    late = [buy(member, "50.00", at=T - datetime.timedelta(days=2)), buy(member, "50.00", at=T),
            buy(member, "10.00", at=T - datetime.timedelta(seconds=1))]  # fmt: skip
    assert [points_of(a) for a in facts_earn_many(purchases=late, book=rule_book())] == [50, 100, 10]


def test_a_rule_added_later_or_switched_off_since_is_read_as_it_was(approver, operator, member):
    signin = EventType.objects.create(code="signin", name="签到")
    rule = BehaviourRule(event_type=signin, point_type=PointType.objects.get(code="points"), amount=5)
    added = config_change_propose(instance=rule, action=ConfigChange.Action.CREATE, actor=operator)
    assert not BehaviourRule.objects.filter(event_type=signin).exists()  # a draft adds nothing
    config_change_approve(change=added, actor=approver, at=T)
    assert BehaviourRule.objects.get(event_type=signin).amount == 5
    off = default_rule()
    off.active = False
    config_change_approve(
        change=config_change_propose(instance=off, fields=["active"], actor=operator),
        actor=approver,
        at=T + datetime.timedelta(days=1),
    )
    now = rule_book()
    then = now.past(T - datetime.timedelta(hours=1))
    assert signin.pk in now.behaviour_rules and signin.pk not in then.behaviour_rules
    assert [r.rate for r in now.earn_rules if r.point_type.code == "points"] == []
    assert [r.rate for r in then.earn_rules if r.point_type.code == "points"] == [1]


def test_a_change_to_a_row_changed_since_is_refused_and_changes_nothing(approver, operator):
    first = propose_rate("2", operator)
    second = propose_rate("3", operator)
    config_change_approve(change=first, actor=approver)
    with pytest.raises(Stale, match="changed after this change was made"):
        config_change_approve(change=second, actor=approver)
    second.refresh_from_db()
    assert second.status == "submitted" and default_rule().rate == 2


def test_adding_and_deleting_in_the_admin_wait_for_approval_too(en, operator, administrator, approver):
    signin = EventType.objects.create(code="signin", name="签到")
    login(en, operator)
    response = en.post(reverse("admin:campaigns_behaviourrule_add"), {
        "event_type": signin.pk, "point_type": PointType.objects.get(code="points").pk, "amount": "5",
        "cap": "1", "cap_period": "day", "active": "on", "effective_from_0": "", "effective_from_1": "",
        "change_note": ""})  # fmt: skip
    assert response.status_code == 302 and not BehaviourRule.objects.exists()
    config_change_approve(change=ConfigChange.objects.get(), actor=approver)
    rule = BehaviourRule.objects.get()
    assert (rule.amount, rule.cap) == (5, 1)
    login(en, administrator)  # operators may not delete rules at all
    response = en.post(reverse("admin:campaigns_behaviourrule_delete", args=[rule.pk]), {"post": "yes"})
    assert response.status_code == 302 and BehaviourRule.objects.filter(pk=rule.pk).exists()
    deletion = ConfigChange.objects.get(action="delete")
    config_change_approve(change=deletion, actor=approver)
    assert not BehaviourRule.objects.exists()


def test_configuration_models_keep_their_history():
    from benefits.models import Coupon
    from members.models import Tag
    from members.partners.models import PartnerKey
    from tiers.models import Subscription

    for model in (PointType, Tag, EventType, Coupon, Subscription, PartnerKey):
        assert hasattr(model, "history"), model


def test_the_approver_decides_on_the_change_page_and_the_maker_can_only_withdraw(en, operator, approver):
    change = propose_rate("2", operator)
    page = (
        login(en, operator)
        .get(reverse("admin:common_configchange_change", args=[change.pk]))
        .content.decode()
    )
    assert "value='reject'" in page and "value='approve'" not in page  # a maker withdraws, never approves
    decide = reverse("admin:common_configchange_decide", args=[change.pk])
    en.post(decide, {"decision": "approve"})
    assert default_rule().rate == 1
    page = (
        login(en, approver)
        .get(reverse("admin:common_configchange_change", args=[change.pk]))
        .content.decode()
    )
    assert "value='approve'" in page
    response = en.post(decide, {"decision": "approve"}, follow=True)
    assert "In effect" in response.content.decode() and default_rule().rate == 2
    assert en.get(decide).status_code == 405
