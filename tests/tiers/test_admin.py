"""Tiers in the admin: the ladder with its policy, the member's tier status, manual overrides,
paid plans and subscriptions."""

from __future__ import annotations

import datetime
import itertools

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from benefits.models import Benefit, Entitlement
from points.services import points_earn
from tests.conftest import approve_changes, login
from tests.factories import MemberFactory
from tiers.models import MemberTier, Plan, Subscription, Tier, TierChange, TierPolicy
from tiers.services import tier_override, tier_refresh
from tiers.subscriptions import subscription_start

pytestmark = pytest.mark.django_db

LADDER = reverse("admin:tiers_tier_changelist")
_refs = itertools.count()


@pytest.fixture
def en(client):
    """Pages in English, so assertions do not depend on the zh-hans catalogue."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def tier_ladder(db) -> dict[str, Tier]:
    tiers = {"member": Tier.objects.get(rank=0)}
    for rank, (code, name, threshold, multiplier) in enumerate(
        [
            ("silver", "银卡", 1000, "1.20"),
            ("gold", "金卡", 5000, "1.50"),
            ("diamond", "钻石", 20000, "2.00"),
        ],
        start=1,
    ):
        tiers[code] = Tier.objects.create(
            rank=rank, code=code, name=name, threshold=threshold, earn_multiplier=multiplier
        )
    return tiers


def grow(member, amount: int) -> None:
    now = timezone.now()
    points_earn(member=member, point_type="growth", amount=amount, source="purchase",
                source_ref=f"order-{next(_refs)}", idempotency_key=f"growth-{next(_refs)}",
                at=now, available_at=now)  # fmt: skip
    tier_refresh(member, at=now)


def member_page(client, member) -> str:
    return client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()


# --- the ladder -------------------------------------------------------------------------------


def test_ladder_shows_tiers_in_rank_order_with_thresholds_multipliers_and_benefits(en, operator, tier_ladder):
    shipping = Benefit.objects.create(name="免运费券", kind=Benefit.Kind.FREE_SHIPPING)
    lounge = Benefit.objects.create(name="贵宾休息室", kind=Benefit.Kind.SERVICE)
    Entitlement.objects.create(benefit=shipping, tier=tier_ladder["gold"], quantity=2)
    Entitlement.objects.create(benefit=lounge, tier=tier_ladder["diamond"], period=Entitlement.Period.YEARLY)
    Entitlement.objects.create(benefit=lounge, tier=tier_ladder["silver"], active=False)
    response = login(en, operator).get(LADDER)
    page = response.content.decode()
    assert [t.name for t in response.context["cl"].result_list] == ["普通会员", "银卡", "金卡", "钻石"]
    assert page.index("银卡") < page.index("金卡") < page.index("钻石")
    assert "1,000" in page and "5,000" in page and "20,000" in page
    assert "×1.5" in page and "×1.2" in page and "×2<" in page
    assert "免运费券 ×2 · Every month" in page and "贵宾休息室 ×1 · Every year" in page
    silver_row = page[page.index("银卡") : page.index("金卡")]
    assert "贵宾休息室" not in silver_row  # inactive entitlements are not what a tier carries
    # the policy above the ladder, with a way to change it
    assert "Calendar year" in page and "Down one level at a time" in page
    assert reverse("admin:tiers_tierpolicy_change", args=[1]) in page


def test_ladder_queries_do_not_grow_with_tiers_or_benefits(client, operator, tier_ladder):
    login(client, operator)
    client.get(LADDER)
    with CaptureQueriesContext(connection) as few:
        client.get(LADDER)
    for rank in range(4, 9):
        tier = Tier.objects.create(rank=rank, code=f"t{rank}", name=f"T{rank}", threshold=rank * 10_000)
        benefit = Benefit.objects.create(name=f"B{rank}", kind=Benefit.Kind.GIFT)
        Entitlement.objects.create(benefit=benefit, tier=tier)
    with CaptureQueriesContext(connection) as many:
        response = client.get(LADDER)
    assert len(response.context["cl"].result_list) == 9
    assert len(many) == len(few)


def test_tier_policy_is_one_row_edited_from_the_ladder(en, operator):
    login(en, operator)
    response = en.get(reverse("admin:tiers_tierpolicy_changelist"))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:tiers_tierpolicy_change", args=[1])
    assert en.get(reverse("admin:tiers_tierpolicy_add")).status_code == 403
    assert en.get(reverse("admin:tiers_tierpolicy_delete", args=[1])).status_code == 403
    form = {"metric": "growth", "window": "rolling", "downgrade": "never", "grace_days": "30"}
    response = en.post(reverse("admin:tiers_tierpolicy_change", args=[1]), form)
    assert response.status_code == 302  # to the change, which waits for an approver
    assert TierPolicy.current().window != "rolling"
    approve_changes()
    policy = TierPolicy.current()
    assert (policy.window, policy.downgrade, policy.grace_days) == ("rolling", "never", 30)
    assert policy.history.first().history_user == operator


def test_entry_tier_keeps_rank_zero_and_cannot_be_deleted(client, operator, tier_ladder):
    login(client, operator)
    entry = tier_ladder["member"]
    assert client.get(reverse("admin:tiers_tier_delete", args=[entry.pk])).status_code == 403
    form = {"code": "member", "name": "大众会员", "earn_multiplier": "1", "description": "", "rank": "7"}
    form.update({"entitlements-TOTAL_FORMS": "0", "entitlements-INITIAL_FORMS": "0"})
    response = client.post(reverse("admin:tiers_tier_change", args=[entry.pk]), form)
    assert response.status_code == 302
    entry.refresh_from_db()
    assert (entry.name, entry.rank, entry.threshold) == ("大众会员", 0, 0)


def test_tier_page_sets_the_benefits_the_tier_carries(client, operator, tier_ladder):
    shipping = Benefit.objects.create(name="免运费券", kind=Benefit.Kind.FREE_SHIPPING)
    gold = tier_ladder["gold"]
    login(client, operator)
    url = reverse("admin:tiers_tier_change", args=[gold.pk])
    assert "entitlements-TOTAL_FORMS" in client.get(url).content.decode()
    form = {
        "rank": "2", "code": "gold", "name": "金卡", "threshold": "5000", "earn_multiplier": "1.5",
        "description": "", "entitlements-TOTAL_FORMS": "1", "entitlements-INITIAL_FORMS": "0",
        "entitlements-0-benefit": shipping.pk, "entitlements-0-quantity": "2",
        "entitlements-0-period": "monthly", "entitlements-0-active": "on",
    }  # fmt: skip
    response = client.post(url, form)
    assert response.status_code == 302
    assert not Entitlement.objects.filter(tier=gold).exists()  # a benefit of a tier waits for approval
    approve_changes()
    entitlement = Entitlement.objects.get(tier=gold)
    assert (entitlement.benefit, entitlement.quantity) == (shipping, 2)
    assert entitlement.history.first().history_user == operator
    # two a month instead of one, then none: each waits for approval too
    form.update({"entitlements-INITIAL_FORMS": "1", "entitlements-0-id": entitlement.pk,
                 "entitlements-0-tier": gold.pk, "entitlements-0-quantity": "3"})  # fmt: skip
    assert client.post(url, form).status_code == 302
    entitlement.refresh_from_db()
    assert entitlement.quantity == 2
    approve_changes()
    entitlement.refresh_from_db()
    assert entitlement.quantity == 3
    assert client.post(url, {**form, "entitlements-0-DELETE": "on"}).status_code == 302
    assert Entitlement.objects.filter(tier=gold).exists()
    approve_changes()
    assert not Entitlement.objects.filter(tier=gold).exists()


def test_override_form_for_a_member_opened_from_the_member_page(client, operator, member, tier_ladder):
    login(client, operator)
    page = client.get(reverse("admin:tiers_membertier_add"), {"member": member.pk}).content.decode()
    assert f'<option value="{member.pk}" selected>' in page  # the autocomplete starts on the member


def test_store_staff_do_not_manage_tiers(client, store_staff, tier_ladder):
    login(client, store_staff)
    assert client.get(LADDER).status_code == 403
    assert client.get(reverse("admin:tiers_membertier_changelist")).status_code == 403


# --- the member page --------------------------------------------------------------------------


def test_member_page_shows_tier_and_the_way_up(en, operator, member, tier_ladder):
    grow(member, 1200)
    page = member_page(login(en, operator), member)
    status = page[page.index("Tier status") :]
    assert "银卡" in status
    assert "3,800 more growth to reach 金卡." in status
    assert "Keeps 银卡 at the review on" in status
    assert "Qualified for a higher tier" in page  # the tier change, in the history inline
    assert reverse("admin:tiers_membertier_add") + f"?member={member.pk}" in page


def test_member_in_the_entry_tier_without_a_status_row_sees_progress_too(en, operator, tier_ladder):
    newcomer = MemberFactory(name="新人")
    assert not MemberTier.objects.filter(member=newcomer).exists()
    page = member_page(login(en, operator), newcomer)
    status = page[page.index("Tier status") :]
    assert "普通会员" in status and "1,000 more growth to reach 银卡." in status


def test_member_page_shows_override_and_plan_holders(en, operator, member, tier_ladder):
    tier_override(member, tier=tier_ladder["diamond"], until=timezone.now() + datetime.timedelta(days=90),
                  reason="竞品会籍匹配", actor=operator)  # fmt: skip
    page = member_page(login(en, operator), member)
    assert "钻石 by manual override until" in page and "earned tier 普通会员" in page
    assert "竞品会籍匹配" in page  # the override's reason, in the tier history


# --- manual overrides -------------------------------------------------------------------------


def override_form(member=None, **fields) -> dict[str, str]:
    until = timezone.localtime() + datetime.timedelta(days=60)
    form = {
        "override_tier": "",
        "override_until_0": f"{until:%Y-%m-%d}",
        "override_until_1": "23:59:00",
        "override_reason": "客诉补偿，升级两个月",
    }
    if member is not None:
        form["member"] = str(member.pk)
    form.update(fields)
    return form


def test_override_through_the_admin_is_recorded_with_the_operator(client, operator, member, tier_ladder):
    login(client, operator)
    response = client.post(
        reverse("admin:tiers_membertier_add"), override_form(member, override_tier=tier_ladder["gold"].pk)
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    status = MemberTier.objects.get(member=member)
    assert status.tier == tier_ladder["gold"] and status.source == "override"
    assert status.earned_tier == tier_ladder["member"]
    change = TierChange.objects.get(member=member)
    assert change.reason == "override" and change.actor == operator and change.to_tier == tier_ladder["gold"]
    assert change.note == "客诉补偿，升级两个月"


def test_override_of_a_member_with_a_status_row_goes_through_the_same_form(
    client, operator, member, tier_ladder
):
    grow(member, 1500)  # 银卡, earned: the member has a status row
    login(client, operator)
    url = reverse("admin:tiers_membertier_change", args=[member.pk])
    response = client.post(url, override_form(override_tier=tier_ladder["diamond"].pk))
    assert response.status_code == 302, response.context["adminform"].form.errors
    status = MemberTier.objects.get(member=member)
    assert status.tier == tier_ladder["diamond"] and status.earned_tier == tier_ladder["silver"]
    assert TierChange.objects.filter(member=member, reason="override", actor=operator).count() == 1


def test_override_refused_by_the_service_shows_on_the_fields(en, operator, member, tier_ladder):
    login(en, operator)
    past = timezone.localtime() - datetime.timedelta(days=1)
    response = en.post(
        reverse("admin:tiers_membertier_add"),
        override_form(
            member,
            override_tier=tier_ladder["gold"].pk,
            override_until_0=f"{past:%Y-%m-%d}",
            override_reason="  ",
        ),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["override_until"] == ["The override must end in the future."]
    assert errors["override_reason"] == ["Say why the tier is overridden."]
    assert not MemberTier.objects.filter(member=member).exists()
    assert not TierChange.objects.exists()


def test_validating_the_override_form_writes_nothing_and_locks_nothing(rf, operator, member, tier_ladder):
    """The override is the service's, called by the admin after the form validated."""
    request = rf.post("/")
    request.user = operator
    form_class = admin.site._registry[MemberTier].get_form(request, None, change=False)
    data = override_form(member, override_tier=tier_ladder["gold"].pk)
    with CaptureQueriesContext(connection) as queries:
        assert form_class(data=data).is_valid()
    assert len(queries) >= 2  # the member and the tier were looked up
    statements = [q["sql"] for q in queries.captured_queries]
    assert [sql for sql in statements if not sql.startswith("SELECT") or "FOR UPDATE" in sql] == []
    assert not MemberTier.objects.filter(member=member).exists() and not TierChange.objects.exists()


def test_end_override_action(client, operator, member, tier_ladder):
    tier_override(member, tier=tier_ladder["gold"], until=timezone.now() + datetime.timedelta(days=30),
                  reason="试用", actor=operator)  # fmt: skip
    login(client, operator)
    response = client.post(
        reverse("admin:tiers_membertier_changelist"),
        {"action": "end_override", "_selected_action": [member.pk]},
    )
    assert response.status_code == 302
    status = MemberTier.objects.get(member=member)
    assert status.tier == tier_ladder["member"] and status.override_tier is None
    ended = TierChange.objects.get(member=member, reason="override_ended")
    assert ended.actor == operator


@pytest.mark.parametrize("role", ["finance", "approver"])
def test_member_tier_list_masks_members_and_offers_no_override(request, client, role, member, tier_ladder):
    grow(member, 1200)
    user = request.getfixturevalue(role)
    login(client, user)
    response = client.get(reverse("admin:tiers_membertier_changelist"))
    page = response.content.decode()
    assert "张*" in page and "张伟" not in page
    assert "end_override" not in page
    assert client.get(reverse("admin:tiers_membertier_add")).status_code == 403
    detail = client.post(reverse("admin:tiers_membertier_change", args=[member.pk]), override_form())
    assert detail.status_code == 403


def test_operator_sees_member_names_in_the_member_tier_list(client, operator, member, tier_ladder):
    grow(member, 1200)
    page = login(client, operator).get(reverse("admin:tiers_membertier_changelist")).content.decode()
    assert "张伟" in page


# --- paid plans and subscriptions -------------------------------------------------------------


@pytest.fixture
def plan(tier_ladder) -> Plan:
    return Plan.objects.create(code="plus", name="PLUS 会员", price="199.00", tier=tier_ladder["gold"])


def test_subscriptions_are_never_edited_and_found_by_exact_payment_reference(client, operator, member, plan):
    subscription_start(member, plan=plan, payment_ref="WX-PAY-0001")
    other = MemberFactory(name="李娜")
    subscription_start(other, plan=plan, payment_ref="WX-PAY-0002")
    login(client, operator)
    url = reverse("admin:tiers_subscription_changelist")
    found = client.get(url, {"q": "WX-PAY-0001"}).context["cl"].result_list
    assert [s.payment_ref for s in found] == ["WX-PAY-0001"]
    assert client.get(url, {"q": "WX-PAY"}).context["cl"].result_count == 0  # exact only
    by_member = client.get(url, {"q": other.member_number}).context["cl"].result_list
    assert [s.member for s in by_member] == [other]
    subscription = Subscription.objects.get(payment_ref="WX-PAY-0001")
    assert client.get(reverse("admin:tiers_subscription_add")).status_code == 200  # records a payment
    response = client.post(reverse("admin:tiers_subscription_change", args=[subscription.pk]), {})
    assert response.status_code == 403


def test_cancel_action_stops_renewal_and_records_who(client, administrator, finance, member, plan):
    subscription = subscription_start(member, plan=plan, payment_ref="WX-PAY-0003")
    url = reverse("admin:tiers_subscription_changelist")
    assert 'value="cancel"' not in login(client, finance).get(url).content.decode()
    login(client, administrator)
    response = client.post(url, {"action": "cancel", "_selected_action": [subscription.pk]})
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.auto_renew is False and subscription.cancelled_at is not None
    assert subscription.status == "active"  # runs to the end of the paid period
    assert "administrator" in subscription.cancel_reason  # who cancelled
    assert MemberTier.objects.get(member=member).tier == plan.tier
    # cancelling again is refused with a message, not an error page
    response = client.post(url, {"action": "cancel", "_selected_action": [subscription.pk]}, follow=True)
    assert response.status_code == 200


def test_plan_page_shows_its_entitlements(client, operator, plan):
    gift = Benefit.objects.create(name="生日礼", kind=Benefit.Kind.GIFT)
    Entitlement.objects.create(benefit=gift, plan=plan, period=Entitlement.Period.BIRTHDAY)
    page = login(client, operator).get(reverse("admin:tiers_plan_change", args=[plan.pk])).content.decode()
    assert "生日礼" in page
