"""A month with planted bonus hunting among ordinary members (issue 21): the nightly scan,
run for each day of it, catches every planted case with the rule meant for it, and few ordinary
members; the simulation of each rule over the month says what the scan then did; the ledger
stays exact."""

from __future__ import annotations

import datetime

import pytest

from campaigns.models import RiskCase, RiskRule
from campaigns.risk.planted import generate_month
from campaigns.risk.scan import risk_scan, simulate
from campaigns.risk.starter import STARTER_RULES, starter_rules
from points.selectors import ledger_problems

pytestmark = pytest.mark.django_db

INTENDED = {  # members planted -> the rules meant to catch them (guessers: their own test)
    "farm": ["同一设备一小时注册超过10人", "虚拟号段领取注册礼"],
    "refund_after_redeem": ["兑换后退货"],
    "transfer_ring": ["积分转赠成环或汇聚"],
    "staff_self_dealing": ["店员在本店自买自积"],
    "scarce_reward_burst": ["新会员集中兑换稀缺礼品"],
}


@pytest.fixture(scope="module")
def month(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        from django.db import transaction

        with transaction.atomic():
            rules = starter_rules(active=False)  # switched on after the simulation
            generated = generate_month(ordinary=100)
            simulations = {
                rule.name: simulate(
                    rule, generated.start, generated.start + datetime.timedelta(days=generated.days - 1)
                )
                for rule in rules
            }
            RiskRule.objects.update(active=True)
            for offset in range(generated.days):
                risk_scan(generated.start + datetime.timedelta(days=offset))
            caught: dict[str, set[int]] = {
                rule.name: set(
                    RiskCase.objects.filter(rule=rule, member__isnull=False).values_list(
                        "member_id", flat=True
                    )
                )
                for rule in rules
            }
            guessers = {
                rule.name: set(
                    RiskCase.objects.filter(rule=rule, member=None).values_list("subject", flat=True)
                )
                for rule in rules
                if not rule.on_members
            }
            cases = {rule.name: RiskCase.objects.filter(rule=rule).count() for rule in rules}
            problems = ledger_problems()
            transaction.set_rollback(True)
    return generated, caught, cases, simulations, problems, guessers


@pytest.mark.parametrize("planted", sorted(INTENDED))
def test_every_planted_case_is_caught_by_its_rule(month, planted):
    generated, caught, _cases, _simulations, _problems, _guessers = month
    members = set(generated.planted[planted])
    assert members
    for rule in INTENDED[planted]:
        assert members <= caught[rule], f"{rule} missed {len(members - caught[rule])} of {len(members)}"


def test_few_ordinary_members_are_flagged(month):
    generated, caught, _cases, _simulations, _problems, _guessers = month
    flagged = set().union(*caught.values()) & set(generated.ordinary)
    share = len(flagged) / len(generated.ordinary)
    print(f"ordinary members flagged: {len(flagged)} of {len(generated.ordinary)} ({share:.1%})")
    assert share <= 0.02


def test_the_simulation_says_what_the_scan_then_did(month):
    _generated, caught, cases, simulations, _problems, guessers = month
    assert {name for name, *_ in STARTER_RULES} == set(simulations)
    for name, simulation in simulations.items():
        if simulation.rule.inline:
            continue  # checked as purchases arrive, not by the scan: tests/risk/test_inline.py
        assert (simulation.cases, simulation.members) == (cases[name], caught[name]), name
        if not simulation.rule.on_members:
            assert simulation.subjects == len(guessers[name]), name


def test_coupon_guessing_is_caught_and_mistyping_is_not(month):
    """The partner's script (200 codes in an hour) and the clerk trying 40 are each caught by the
    rule counting them; the clerks who mistype a code or two a day are not. Their cases have no
    member: they name who tried."""
    generated, caught, _cases, _simulations, _problems, guessers = month
    script, clerk = generated.guessers
    assert guessers["同一合作方一小时查询无效券码超过30次"] == {script}
    assert guessers["同一店员账号一小时查询无效券码超过10次"] == {clerk}
    assert not set(generated.typists) & set().union(*guessers.values())
    assert caught["同一合作方一小时查询无效券码超过30次"] == set()  # no member


def test_the_ledger_stays_exact(month):
    assert month[4] == {}
