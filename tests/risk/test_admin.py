"""The risk desk in the admin: operators set rules under maker-checker (never typing JSON), run a
rule over past data before switching it on, and approvers work the queue of cases with their
evidence; store staff see none of it."""

from __future__ import annotations

import datetime
import json
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import AwardReview, RiskCase, RiskRule
from config.common.models import ConfigChange
from tests.api import conftest as api_fixtures
from tests.api.test_purchases import served_by
from tests.conftest import approve_changes, login
from tests.risk.test_inline_velocity import buy, rule

pytestmark = pytest.mark.django_db

partner_a = api_fixtures.partner_a


@pytest.fixture
def en(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def rule_form(**fields) -> dict:
    form = {"name": "Device farm", "kind": "velocity", "threshold": "10", "action": "freeze", "score": "40",
            "active": "on", "measure": "enrolments", "scope": "device", "window": "hour",
            "prefixes": "170,171", "new_member_days": "30", "scarce_stock": "100", "lookback_days": "1",
            "effective_from_0": "", "effective_from_1": "", "change_note": ""}  # fmt: skip
    return {**form, **fields}


def test_a_new_rule_waits_for_a_second_person(en, operator):
    login(en, operator)
    response = en.post(reverse("admin:campaigns_riskrule_add"), rule_form())
    assert response.status_code == 302, response.content.decode()[-3000:]
    assert not RiskRule.objects.exists() and ConfigChange.objects.filter(status="submitted").count() == 1
    approve_changes()
    made = RiskRule.objects.get()
    assert (made.kind, made.measure, made.scope, made.window, made.threshold, made.action) == (
        "velocity", "enrolments", "device", "hour", 10, "freeze"
    )  # fmt: skip


@pytest.mark.parametrize(
    "fields, field, words",
    [
        ({"measure": ""}, "measure", "counts something"),
        ({"measure": "redemptions", "scope": "store"}, "scope", "no store or partner"),
        ({"measure": "redemptions", "scope": "partner"}, "scope", "no store or partner"),
        ({"kind": "virtual_phone", "prefixes": "170, 2x9"}, "prefixes", "2x9"),
        ({"score": "150"}, "score", "at most 100"),
    ],
)
def test_a_rule_that_cannot_work_is_refused_on_its_field(en, operator, fields, field, words):
    login(en, operator)
    response = en.post(reverse("admin:campaigns_riskrule_add"), rule_form(**fields))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert words in " ".join(errors[field])
    assert not ConfigChange.objects.exists()


def test_the_simulation_page_shows_the_figures_and_a_chart(en, operator, partner_a):
    velocity = rule(active=False)
    member = served_by(partner_a)
    for n in range(4):
        buy(partner_a, member, n)
    login(en, operator)
    today = timezone.localdate()
    url = reverse("admin:campaigns_riskrule_simulate", args=[velocity.pk])
    response = en.get(url, {"start": str(today - datetime.timedelta(days=2)), "end": str(today)})
    page = response.content.decode()
    assert response.status_code == 200
    rows = dict(response.context["rows"])
    assert (rows["members caught"], rows["cases it would have opened"]) == ("1", "2")
    spec = json.loads(page.split('id="insight-charts" type="application/json">')[1].split("</script>")[0])
    assert spec[0]["kind"] == "bar" and sum(spec[0]["series"][0]["data"]) == 2
    assert not RiskCase.objects.exists()  # nothing written


def test_the_approver_works_the_queue(client, approver, partner_a):
    rule()
    member = served_by(partner_a)
    for n in range(3):
        buy(partner_a, member, n)
    case = RiskCase.objects.get()
    login(client, approver)
    queue = client.get(reverse("admin:campaigns_riskcase_changelist")).content.decode()
    assert "一天超过2笔" in queue and "数量: 3" in queue and "每会员" in queue  # the summary, in words
    page = client.get(reverse("admin:campaigns_riskcase_change", args=[case.pk])).content.decode()
    assert "V-2" in page and "因风控暂扣的奖励" in page
    response = client.post(
        reverse("admin:campaigns_riskcase_change", args=[case.pk]), {"add_note": "已电话核实"}
    )
    assert response.status_code == 302
    response = client.post(
        reverse("admin:campaigns_riskcase_changelist"),
        {"action": "release", "_selected_action": [case.pk], "index": 0},
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == "released" and case.decided_by == approver and "已电话核实" in case.note
    assert AwardReview.objects.get().status == "released"


def test_operators_see_the_queue_but_cannot_decide(client, operator, partner_a):
    rule()
    member = served_by(partner_a)
    for n in range(3):
        buy(partner_a, member, n)
    login(client, operator)
    response = client.get(reverse("admin:campaigns_riskcase_changelist"))
    assert response.status_code == 200
    assert response.context["action_form"] is None  # no action to take
    client.post(
        reverse("admin:campaigns_riskcase_changelist"),
        {"action": "release", "_selected_action": [RiskCase.objects.get().pk], "index": 0},
    )
    assert RiskCase.objects.get().status == "open"


def test_the_sidebar_badge_shows_only_when_cases_wait(client, approver, partner_a):
    """Nothing waiting: no badge at all (it used to be an empty red box); two cases: "2"."""

    def sidebar_item() -> str:
        page = client.get(reverse("admin:index")).content.decode()
        return page.split('<a href="/admin/campaigns/riskcase/"', 1)[1].split(">", 1)[1].split("</a>", 1)[0]

    def badge() -> str:
        return " ".join(re.sub(r"<[^>]+>", " ", sidebar_item()).split())

    login(client, approver)
    assert badge() == "gpp_maybe 风控案件" and "bg-red-100" not in sidebar_item()
    rule()
    member = served_by(partner_a)
    for n in range(4):
        buy(partner_a, member, n)
    assert badge() == "gpp_maybe 风控案件 2"
