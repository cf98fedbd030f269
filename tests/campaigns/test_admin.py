"""Campaigns in the admin: rules and campaigns edited without JSON, the lifecycle buttons, and who
may see what (the simulation, results and earnings pages: test_admin_results.py)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from benefits.models import Benefit
from campaigns import admin as campaigns_admin
from campaigns import services
from campaigns.earning.pipeline import purchase_process
from campaigns.forms import CampaignForm
from campaigns.models import Award, Campaign
from config.common.errors import BusinessRuleError
from config.common.roles import Role
from tests.campaigns.conftest import NOW, buy, campaign
from tests.conftest import login
from tests.factories import StoreFactory, TagFactory

pytestmark = pytest.mark.django_db

CAMPAIGNS = reverse("admin:campaigns_campaign_changelist")
ADD = reverse("admin:campaigns_campaign_add")
AWARDS = reverse("admin:campaigns_award_changelist")


def change_url(obj: Campaign) -> str:
    return reverse("admin:campaigns_campaign_change", args=[obj.pk])


def transition(client, obj: Campaign, action: str, note: str = ""):
    url = reverse("admin:campaigns_lifecycle_transition", args=[obj.pk])
    return client.post(url, {"action": action, "note": note}, follow=True)


def draft(author, **fields) -> Campaign:
    fields.setdefault("multiplier", Decimal(2))
    return campaign(status=Campaign.Status.DRAFT, created_by=author, **fields)


def member_page(client, member):
    return client.get(reverse("admin:members_member_change", args=[member.pk]))


def buttons(page: str) -> set[str]:
    return {action for action in ["submit", "approve", "reject", "withdraw", "schedule", "pause",
                                  "resume", "end"] if f'name="action" value="{action}"' in page}  # fmt: skip


# --- the list and the change page, in zh-hans ---------------------------------------------------


def test_campaign_list_in_chinese_with_budget_used_and_flat_query_count(
    client, operator, author, django_assert_max_num_queries
):
    campaign(name="双11双倍积分", multiplier=Decimal(2), budget_points=10_000, spent_points=2_500,
             priority=10, exclusive=True, created_by=author)  # fmt: skip
    draft(author, name="周末加赠")
    login(client, operator)
    client.get(CAMPAIGNS)
    # session, user, 2x permissions, count, page (authors joined)
    with django_assert_max_num_queries(7):
        response = client.get(CAMPAIGNS)
    page = response.content.decode()
    for text in [
        "营销活动",
        "双11双倍积分",
        "进行中",
        "草稿",
        "消费",
        "2,500 / 10,000",
        "10 · 独占",
        "author",
    ]:
        assert text in page, text
    for n in range(10):
        campaign(name=f"活动{n}", bonus_points=10, budget_cny=Decimal(100), created_by=author)
    with django_assert_max_num_queries(7):
        response = client.get(CAMPAIGNS, {"status": "active"})
    assert len(response.context["cl"].result_list) == 11
    assert "¥0.00 / ¥100.00" in response.content.decode()
    assert client.get(CAMPAIGNS, {"q": "双11"}).context["cl"].result_count == 1


def test_draft_change_page_in_chinese_groups_fields_and_offers_submit(
    client, author, ladder, django_assert_max_num_queries
):
    obj = draft(author, channels=["store", "tmall"], weekdays=[6, 7], categories=["食品"],
                stores=[StoreFactory()], tiers=[ladder["gold"]], tags=[TagFactory()])  # fmt: skip
    login(client, author)
    client.get(change_url(obj))
    # session, user, campaign (author joined), 2x permissions; its stores, tiers and tags; the
    # chosen stores and tags again (autocomplete widgets); choices of event types, of tiers to
    # upgrade to and of tiers (filter_horizontal): the same however many are chosen
    with django_assert_max_num_queries(14):
        response = client.get(change_url(obj))
    page = response.content.decode()
    sections = ["触发条件", "参与条件", "奖励", "上限与预算", "叠加与对照组"]
    for text in [*sections, "周一", "周日", "天猫", "提交审批", "模拟", "效果"]:
        assert text in page, text
    assert 'name="_save"' in page
    assert buttons(page) == {"submit"}
    form = response.context["adminform"].form
    assert form["categories"].value() == "食品"
    assert sorted(form["weekdays"].value()) == [6, 7]


# --- adding a campaign as an operator would -------------------------------------------------------


def campaign_form(**overrides) -> dict:
    data = {
        "code": "double11", "name": "双11双倍积分", "description": "",
        "starts_at_0": "2026-11-11", "starts_at_1": "00:00:00",
        "ends_at_0": "2026-11-12", "ends_at_1": "00:00:00",
        "trigger": "purchase", "birthday": "", "multiplier": "2", "bonus_points": "0", "growth": "0",
        "priority": "0", "holdout_percent": "0",
    }  # fmt: skip
    data.update(overrides)
    return data


def test_operator_adds_a_campaign_by_ticking_and_typing_never_json(en, operator, ladder):
    store = StoreFactory(code="S0001", name="上海徐汇店")
    vip = TagFactory(name="VIP 客户")
    login(en, operator)
    assert en.get(ADD).status_code == 200
    data = campaign_form(
        channels=["store", "tmall"],
        weekdays=["6", "7"],
        categories="食品, 酒水\n烟酒，食品",
        skus="A1、B2",
        stores=[store.pk],
        tiers=[ladder["gold"].pk, ladder["diamond"].pk],
        tags=[vip.pk],
        budget_points="10000",
        hour_from="10",
        hour_to="14",
    )
    response = en.post(ADD, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    obj = Campaign.objects.get(code="double11")
    assert obj.channels == ["store", "tmall"]
    assert obj.weekdays == [6, 7]
    assert obj.categories == ["食品", "酒水", "烟酒"]
    assert obj.skus == ["A1", "B2"]
    assert list(obj.stores.all()) == [store] and list(obj.tags.all()) == [vip]
    assert set(obj.tiers.all()) == {ladder["gold"], ladder["diamond"]}
    assert obj.status == Campaign.Status.DRAFT and obj.created_by == operator
    assert {h.history_user for h in obj.history.all()} == {operator}  # the row, then its many-to-many


def test_the_form_says_what_is_wrong_on_the_fields(en, operator):
    login(en, operator)
    response = en.post(ADD, campaign_form(trigger="birthday", channels=["store"], multiplier="",
                                          categories="食品", ends_at_0="2026-11-01"))  # fmt: skip
    errors = response.context["adminform"].form.errors
    assert response.status_code == 200 and not Campaign.objects.exists()
    assert "Only purchases have this" in errors["categories"][0]
    assert errors["channels"] == ["Birthdays and upgrades have no channel."]
    assert errors["ends_at"] == ["The end must be after the start."]
    assert errors["bonus_points"] == ["The campaign gives nothing: set at least one effect."]


def test_a_draft_saves_changes_with_who_in_the_history(en, author):
    obj = draft(author, categories=["食品"])
    login(en, author)
    response = en.post(
        change_url(obj), campaign_form(code=obj.code, categories="酒水\n食品", bonus_points="50")
    )
    assert response.status_code == 302
    obj.refresh_from_db()
    assert obj.categories == ["酒水", "食品"] and obj.bonus_points == 50
    assert obj.history.latest().history_user == author
    history = en.get(reverse("admin:campaigns_campaign_history", args=[obj.pk]))
    assert history.status_code == 200 and "author" in history.content.decode()


def writes_and_locks(queries) -> list[str]:
    """The statements of ``queries`` that write or lock. Savepoints are neither: Django checks
    each CHECK constraint (``Meta.constraints``) with a SELECT inside one."""
    reads = ("SELECT", "SAVEPOINT", "RELEASE SAVEPOINT")
    return [q["sql"] for q in queries if not q["sql"].startswith(reads) or "FOR UPDATE" in q["sql"]]


def test_validating_a_draft_writes_nothing_and_locks_nothing(author):
    """The form only checks; the draft's lock and the save are the service's, after it."""
    obj = draft(author, name="双11双倍积分")
    data = {
        "code": obj.code, "name": "双11三倍积分", "description": "", "starts_at": "2026-01-01 00:00:00",
        "ends_at": "2027-01-01 00:00:00", "trigger": "purchase", "birthday": "", "multiplier": "3",
        "bonus_points": "0", "growth": "0", "priority": "0", "holdout_percent": "0",
    }  # fmt: skip
    versions = obj.history.count()
    with CaptureQueriesContext(connection) as queries:
        form = CampaignForm(data=data, instance=Campaign.objects.get(pk=obj.pk))
        assert form.is_valid(), form.errors
    assert len(queries) >= 2  # the row, the code's uniqueness: reads were made and seen
    assert writes_and_locks(queries.captured_queries) == []
    obj.refresh_from_db()
    assert obj.name == "双11双倍积分" and obj.multiplier == 2 and obj.history.count() == versions


@pytest.mark.parametrize(
    "refusal, field, message",
    [
        (
            ValidationError({"name": "Already taken by a live campaign."}),
            "name",
            "Already taken by a live campaign.",
        ),
        (
            BusinessRuleError("The budget is closed for the year."),
            "__all__",
            "The budget is closed for the year.",
        ),
    ],
    ids=["on-a-field", "above-the-form"],
)
def test_a_refusal_after_validation_shows_on_the_form_and_keeps_nothing(
    en, author, monkeypatch, refusal, field, message
):
    """The service saved the edit, then refused: the page comes back with the posted values and the
    reason (on the field it names, else above the form), and the edit is gone, history too."""
    obj = draft(author, categories=["食品"])
    versions = obj.history.count()

    def saves_then_refuses(campaign, **kwargs):
        services.campaign_draft_update(campaign, **kwargs)
        assert Campaign.objects.get(pk=obj.pk).bonus_points == 50  # written, about to be undone
        raise refusal

    monkeypatch.setattr(campaigns_admin, "campaign_draft_update", saves_then_refuses)
    login(en, author)
    response = en.post(change_url(obj), campaign_form(code=obj.code, bonus_points="50"))

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors == {field: [message]}
    assert form["bonus_points"].value() == "50"  # what the operator typed, kept
    obj.refresh_from_db()
    assert obj.bonus_points == 0 and obj.history.count() == versions


def test_an_edit_of_a_campaign_submitted_meanwhile_is_refused_on_the_form(en, author, monkeypatch):
    """The draft rule is the service's: when the row it locks is no longer a draft, the edit is
    refused above the form, nothing saved."""
    obj = draft(author)

    def submitted_meanwhile(campaign, **kwargs):
        Campaign.objects.filter(pk=obj.pk).update(status=Campaign.Status.SUBMITTED)
        return services.campaign_draft_update(campaign, **kwargs)

    monkeypatch.setattr(campaigns_admin, "campaign_draft_update", submitted_meanwhile)
    login(en, author)
    response = en.post(change_url(obj), campaign_form(code=obj.code, bonus_points="50"))

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "The campaign is no longer a draft: it was submitted while you were editing it."
    ]
    obj.refresh_from_db()
    assert obj.bonus_points == 0


def test_a_new_campaign_is_created_by_the_service_with_its_author(author):
    week = {"starts_at": NOW, "ends_at": NOW + datetime.timedelta(days=7)}
    created = services.campaign_draft_create(
        values={"code": "weekend", "name": "周末加赠", "bonus_points": 20, **week}, actor=author
    )
    assert created.status == Campaign.Status.DRAFT and created.created_by == author
    assert created.history.get().history_user == author
    with pytest.raises(ValidationError) as refused:
        services.campaign_draft_create(
            values={"code": "weekend", "name": "x", "starts_at": NOW, "ends_at": NOW}, actor=author
        )
    assert set(refused.value.message_dict) == {"code", "ends_at", "bonus_points"}
    with pytest.raises(TypeError):
        services.campaign_draft_update(created, values={"status": "approved"}, actor=author)


# --- the lifecycle buttons --------------------------------------------------------------------------


def test_author_submits_approver_approves_with_who_and_why_in_the_history(en, author, approver):
    obj = draft(author)
    login(en, author)
    response = transition(en, obj, "submit", "请审批")
    assert "Status now: Submitted for approval" in response.content.decode()
    obj.refresh_from_db()
    assert obj.status == Campaign.Status.SUBMITTED
    page = response.content.decode()
    assert buttons(page) == {"withdraw"}  # the author is an operator: no approval button
    assert 'name="_save"' not in page and "withdraw it to draft" in page

    login(en, approver)
    page = en.get(change_url(obj)).content.decode()
    assert buttons(page) == {"approve", "reject"}
    response = transition(en, obj, "approve")
    assert "Status now: Approved" in response.content.decode()
    obj.refresh_from_db()
    assert obj.status == Campaign.Status.APPROVED and obj.approved_by == approver
    steps = [(h.history_user, h.history_change_reason) for h in obj.history.order_by("history_id")]
    assert steps[-2:] == [(author, "Submitted for approval: 请审批"), (approver, "Approved")]


def test_an_approver_never_sees_the_approve_button_on_their_own_campaign(en, make_user):
    both = make_user(Role.OPERATOR, username="both")
    both.groups.add(Group.objects.get(name=Role.APPROVER.value))
    obj = draft(both)
    login(en, both)
    transition(en, obj, "submit")
    page = en.get(change_url(obj)).content.decode()
    assert "approve" not in buttons(page) and "reject" not in buttons(page)
    response = transition(en, obj, "approve")  # a hand-made post is refused with the reason
    assert response.status_code == 200
    assert "An approver may not approve their own campaign." in response.content.decode()
    obj.refresh_from_db()
    assert obj.status == Campaign.Status.SUBMITTED and obj.approved_by is None


def test_refusals_are_messages_never_errors(en, author, approver):
    obj = draft(author)
    login(en, approver)
    response = transition(en, obj, "approve")
    assert (
        response.status_code == 200
        and "is not possible while the campaign is Draft" in response.content.decode()
    )
    login(en, author)
    response = transition(en, obj, "bogus")
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    obj.ends_at = obj.starts_at  # breaks the model's rules: submit checks them all
    Campaign.objects.filter(pk=obj.pk).update(multiplier=None)
    response = transition(en, obj, "submit")
    assert response.status_code == 200
    assert "Bonus points: The campaign gives nothing" in response.content.decode()
    assert Campaign.objects.get(pk=obj.pk).status == Campaign.Status.DRAFT
    assert en.get(reverse("admin:campaigns_lifecycle_transition", args=[obj.pk])).status_code == 405


def test_sending_back_needs_a_note_and_reaches_the_history(en, author, approver):
    obj = draft(author)
    login(en, author)
    transition(en, obj, "submit")
    login(en, approver)
    response = transition(en, obj, "reject")
    assert "Say why it is sent back" in response.content.decode()
    assert Campaign.objects.get(pk=obj.pk).status == Campaign.Status.SUBMITTED
    transition(en, obj, "reject", "预算太高")
    obj.refresh_from_db()
    assert obj.status == Campaign.Status.DRAFT
    assert obj.history.latest().history_change_reason == "Sent back to draft: 预算太高"


def test_a_campaign_past_draft_is_read_only_and_its_lists_read_as_words(en, author):
    obj = campaign(created_by=author, multiplier=Decimal(2), channels=["tmall"], weekdays=[1, 5],
                   categories=["食品", "酒水"])  # fmt: skip
    login(en, author)
    page = en.get(change_url(obj)).content.decode()
    assert 'name="_save"' not in page
    assert "Tmall" in page and "Mon, Fri" in page and "食品, 酒水" in page
    assert '["' not in page  # no JSON
    assert buttons(page) == {"pause", "end"}
    assert "end it and create a new one" in page
    response = en.post(change_url(obj), campaign_form(code=obj.code, name="改名"), follow=True)
    assert "Only a draft can be changed" in response.content.decode()
    assert Campaign.objects.get(pk=obj.pk).name == "双11双倍积分"
    assert en.get(reverse("admin:campaigns_campaign_delete", args=[obj.pk])).status_code == 403


def test_history_cannot_revert_a_campaign_to_an_approved_version(en, author, approver):
    obj = draft(author)
    login(en, author)
    transition(en, obj, "submit")
    login(en, approver)
    transition(en, obj, "approve")
    login(en, author)
    transition(en, obj, "withdraw", "改预算")
    approved = obj.history.filter(status=Campaign.Status.APPROVED).latest()
    url = reverse("admin:campaigns_campaign_simple_history", args=[obj.pk, approved.history_id])
    assert en.get(url).status_code == 200  # a past version can be read
    assert en.post(url, campaign_form(code=obj.code)).status_code == 403
    obj.refresh_from_db()
    assert obj.status == Campaign.Status.DRAFT and obj.approved_by is None


# --- who may see what -----------------------------------------------------------------------------------


def test_store_staff_get_403_on_every_campaign_page(client, store_staff, author, member):
    obj = draft(author)
    purchase_process(buy(member, "100"), at=NOW)
    award = Award.objects.get()
    login(client, store_staff)
    urls = [CAMPAIGNS, ADD, change_url(obj), AWARDS, reverse("admin:campaigns_award_change", args=[award.pk]),
            reverse("admin:campaigns_campaign_simulate", args=[obj.pk]),
            reverse("admin:campaigns_campaign_results", args=[obj.pk]),
            reverse("admin:campaigns_campaign_history", args=[obj.pk]),
            reverse("admin:campaigns_earnrule_changelist"),
            reverse("admin:campaigns_behaviourrule_changelist")]  # fmt: skip
    for url in urls:
        assert client.get(url).status_code == 403, url
    response = client.post(
        reverse("admin:campaigns_lifecycle_transition", args=[obj.pk]), {"action": "submit"}
    )
    assert response.status_code == 403
    assert Campaign.objects.get(pk=obj.pk).status == Campaign.Status.DRAFT
    assert "积分明细" not in member_page(client, member).content.decode()


def test_finance_reads_campaigns_but_takes_no_step_and_adds_nothing(en, finance, author):
    obj = draft(author, channels=["store"])
    login(en, finance)
    page = en.get(change_url(obj)).content.decode()
    assert buttons(page) == set() and 'name="_save"' not in page and "Store (POS)" in page
    assert en.get(ADD).status_code == 403
    transition(en, obj, "submit")
    assert Campaign.objects.get(pk=obj.pk).status == Campaign.Status.DRAFT


def test_the_admin_index_links_approvers_to_campaigns_waiting_for_them(client, approver, operator):
    url = f"{CAMPAIGNS}?status=submitted"
    assert url in login(client, approver).get(reverse("admin:index")).content.decode()
    assert url not in login(client, operator).get(reverse("admin:index")).content.decode()


@pytest.mark.parametrize(
    ("role", "granted", "refused"),
    [
        ("operator", ["campaigns.add_campaign", "campaigns.change_campaign", "campaigns.change_earnrule",
                      "campaigns.change_behaviourrule", "campaigns.view_award"],
         ["campaigns.approve_campaign", "campaigns.delete_campaign", "campaigns.change_award"]),
        ("approver", ["campaigns.view_campaign", "campaigns.approve_campaign"],
         ["campaigns.change_campaign", "campaigns.add_campaign"]),
        ("finance", ["campaigns.view_campaign", "campaigns.view_earnrule", "campaigns.view_award"],
         ["campaigns.change_campaign", "campaigns.approve_campaign"]),
        ("store_staff", [], ["campaigns.view_campaign", "campaigns.view_award", "campaigns.view_earnrule"]),
    ],
)  # fmt: skip
def test_role_permissions(request, role, granted, refused):
    user = request.getfixturevalue(role)
    assert [perm for perm in granted if not user.has_perm(perm)] == []
    assert [perm for perm in refused if user.has_perm(perm)] == []


def test_stores_tags_and_coupons_are_picked_by_autocomplete(client, operator, free_shipping):
    StoreFactory(code="S0100", name="上海徐汇店")
    held = Benefit.objects.create(name="积分加倍", kind=Benefit.Kind.EARN_MULTIPLIER, value=2)
    login(client, operator)

    def found(field: str, term: str) -> list[str]:
        params = {"app_label": "campaigns", "model_name": "campaign", "field_name": field, "term": term}
        response = client.get(reverse("admin:autocomplete"), params)
        assert response.status_code == 200
        return [item["text"] for item in response.json()["results"]]

    assert found("stores", "徐汇") == ["S0100 上海徐汇店"]
    # only benefits a campaign can issue as a coupon (the second: the win-back journey's, shipped)
    assert found("benefit", "") == ["包邮券", "回归礼券 满100减20"]
    assert found("benefit", held.name) == []
    TagFactory(name="VIP 客户")
    assert found("tags", "VIP") == ["VIP 客户"]
