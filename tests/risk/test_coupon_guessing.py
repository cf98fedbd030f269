"""Coupon codes tried many times (guessing): every code looked up and not found is noted, through
the API (although the refusal rolls the request back) and at the counter; the rule counting them
per partner, store or staff account opens a case naming who tried, which an approver releases or
rejects (there is no member to freeze); old lookups are pruned."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from benefits.coupons import MISSES_KEPT, coupon_issue, coupon_miss_record
from benefits.models import Benefit, Coupon, CouponMiss
from campaigns.models import RiskCase, RiskRule
from campaigns.risk.cases import NoMemberToFreeze, case_freeze, case_release
from campaigns.risk.scan import risk_scan, simulate
from members.models import Store
from members.partners.services import member_link
from tests.api import conftest as api_fixtures
from tests.conftest import login
from tests.factories import MemberFactory
from tests.risk.test_admin import rule_form

pytestmark = pytest.mark.django_db

partner_a, partner_b = api_fixtures.partner_a, api_fixtures.partner_b
VALIDATE, REDEEM, VOID = "/api/v1/coupons/validate/", "/api/v1/coupons/redeem/", "/api/v1/coupons/void/"


def a_coupon(client) -> Coupon:
    member = MemberFactory()
    member_link(partner=client.partner, member=member)
    benefit = Benefit.objects.create(name="免费咖啡", kind=Benefit.Kind.GIFT)
    return coupon_issue(member, benefit=benefit, origin=Coupon.Origin.MANUAL)


def guessing_rule(scope: str = "partner", threshold: int = 3) -> RiskRule:
    return RiskRule.objects.create(
        name="券码猜测",
        kind="coupon_guessing",
        scope=scope,
        window="hour",
        threshold=threshold,
        action="alert",
    )


def test_each_unknown_code_a_partner_looks_up_is_noted_although_the_request_is_refused(partner_a, partner_b):
    """Partner B, a third party, sees only its own members' coupons."""
    theirs = a_coupon(partner_a)  # a real code, but not one of partner B's members'
    mine = a_coupon(partner_b)
    validate = {"code": "zz-99 x", "store": "B001"}
    assert partner_b.post(VALIDATE, validate, idempotency_key=None).status_code == 404
    redeem = {"code": theirs.code, "store": "B001"}
    assert partner_b.post(REDEEM, redeem, idempotency_key="k1").status_code == 404
    assert partner_b.post(VOID, {"code": "NOPE", "order_number": "1", "reason": "undo"}).status_code == 404
    assert (
        partner_b.post(VALIDATE, {"code": mine.code, "store": "B001"}, idempotency_key=None).status_code
        == 200
    )
    misses = list(CouponMiss.objects.order_by("pk").values_list("code", "partner__code", "store__code"))
    assert misses == [("ZZ99X", "shop-b", "B001"), (theirs.code, "shop-b", "B001"), ("NOPE", "shop-b", None)]
    # the same request sent again is answered from the stored refusal: no second lookup
    assert partner_b.post(REDEEM, redeem, idempotency_key="k1").status_code == 404
    assert CouponMiss.objects.count() == 3
    assert Coupon.objects.get(pk=theirs.pk).status == "issued"


def test_an_unknown_code_at_the_counter_is_noted_with_the_store_and_the_clerk(
    client, store_staff, store, member
):
    store.staff.add(store_staff)
    coupon = coupon_issue(
        member, benefit=Benefit.objects.create(name="满减", kind=Benefit.Kind.GIFT), origin="manual"
    )
    login(client, store_staff)
    url = reverse("admin:benefits_coupon_redeem")
    client.post(url, {"store": store.pk, "code": "abc-123"})  # checked
    client.post(url, {"store": store.pk, "code": "ABC124", "redeem": "1"})  # redeemed at once
    client.post(url, {"store": store.pk, "code": coupon.code})  # a real one
    misses = list(CouponMiss.objects.order_by("pk").values_list("code", "store_id", "user_id", "partner_id"))
    assert misses == [("ABC123", store.pk, store_staff.pk, None), ("ABC124", store.pk, store_staff.pk, None)]


def test_more_unknown_codes_than_the_threshold_in_an_hour_open_one_case_naming_the_partner(
    partner_a, partner_b, approver
):
    """Threshold 3 an hour: partner A's 4 misses between 10:00 and 10:59 fire, its 3 at 14:00 and
    partner B's 3 do not. One case, no member, no restriction; the approver releases it."""
    rule = guessing_rule()
    day = timezone.localdate() - datetime.timedelta(days=1)
    ten = timezone.make_aware(datetime.datetime.combine(day, datetime.time(10)))
    for minute in (0, 15, 30, 59):
        coupon_miss_record(
            f"GUESS{minute}", partner=partner_a.partner, at=ten + datetime.timedelta(minutes=minute)
        )
    for n in range(3):
        coupon_miss_record(
            f"LATER{n}", partner=partner_a.partner, at=ten + datetime.timedelta(hours=4, minutes=n)
        )
        coupon_miss_record(f"TYPO{n}", partner=partner_b.partner, at=ten + datetime.timedelta(minutes=n))

    assert simulate(rule, day, day).subjects == 1
    assert risk_scan(day) == {"券码猜测": 1}
    assert risk_scan(day) == {"券码猜测": 0}  # scanning the day again opens nothing new
    case = RiskCase.objects.get()
    assert (case.member, case.subject, case.action, case.status) == (
        None,
        "pos-a Partner pos-a",
        "alert",
        "open",
    )
    summary, facts = case.evidence["summary"], case.evidence["facts"]
    assert (summary["count"], summary["threshold"], summary["scope"]) == (4, 3, "partner")
    assert [f["ref"] for f in facts] == ["GUES****"] * 4  # the codes tried, masked

    with pytest.raises(NoMemberToFreeze):
        case_freeze(case, actor=approver)
    case_release(case, actor=approver, note="合作方测试环境误连生产")
    case.refresh_from_db()
    assert (case.status, case.decided_by) == ("released", approver)


def test_counted_per_store_and_per_staff_account(store_staff, store):
    other = Store.objects.create(code="S-2", name="二店")
    day = timezone.localdate() - datetime.timedelta(days=1)
    noon = timezone.make_aware(datetime.datetime.combine(day, datetime.time(12)))
    for n in range(4):
        coupon_miss_record(f"X{n}", store=store, user=store_staff, at=noon + datetime.timedelta(minutes=n))
        coupon_miss_record(f"Y{n}", store=other, at=noon + datetime.timedelta(minutes=n))
    by_store, by_staff = guessing_rule("store"), guessing_rule("staff", threshold=4)
    by_staff.name = "店员"
    by_staff.save()
    assert risk_scan(day) == {"券码猜测": 2, "店员": 0}  # 4 > 3 at each store; 4 is not above 4
    assert set(RiskCase.objects.filter(rule=by_store).values_list("subject", flat=True)) == {
        f"{store.code} {store.name}",
        "S-2 二店",
    }


def test_the_queue_shows_who_tried(client, approver, partner_a):
    guessing_rule()
    day = timezone.localdate() - datetime.timedelta(days=1)
    at = timezone.make_aware(datetime.datetime.combine(day, datetime.time(3)))
    for n in range(5):
        coupon_miss_record(f"ROBOT{n}", partner=partner_a.partner, at=at)
    risk_scan(day)
    case = RiskCase.objects.get()
    login(client, approver)
    queue = client.get(reverse("admin:campaigns_riskcase_changelist"))
    assert queue.status_code == 200 and "pos-a Partner pos-a" in queue.content.decode()
    page = client.get(reverse("admin:campaigns_riskcase_change", args=[case.pk])).content.decode()
    assert "试用的无效券码" in page and "ROBO****" in page and "ROBOT1" not in page
    response = client.post(
        reverse("admin:campaigns_riskcase_changelist"),
        {"action": "freeze", "_selected_action": [case.pk], "index": 0},
        follow=True,
    )
    assert "不是会员的案件" in response.content.decode()
    assert RiskCase.objects.get().status == "open"


@pytest.mark.parametrize(
    "fields, field, words",
    [
        ({"scope": "member"}, "scope", "per partner, per store or per staff account"),
        ({"action": "freeze"}, "action", "only record or alert"),
    ],
)
def test_a_guessing_rule_counts_partners_stores_or_accounts_and_only_alerts(
    en_operator, fields, field, words
):
    from tests.risk.test_admin import rule_form

    form = rule_form(**{"kind": "coupon_guessing", "scope": "partner", "action": "alert", **fields})
    response = en_operator.post(reverse("admin:campaigns_riskrule_add"), form)
    assert response.status_code == 200
    assert words in " ".join(response.context["adminform"].form.errors[field])


def test_a_velocity_rule_cannot_count_per_staff_account(en_operator):
    response = en_operator.post(reverse("admin:campaigns_riskrule_add"), rule_form(scope="staff"))
    assert "scope" in response.context["adminform"].form.errors


@pytest.fixture
def en_operator(client, operator):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, operator)
    return client


def test_lookups_older_than_ninety_days_are_pruned_by_the_nightly_scan(partner_a):
    now = timezone.now()
    coupon_miss_record("OLD", partner=partner_a.partner, at=now - MISSES_KEPT - datetime.timedelta(minutes=1))
    coupon_miss_record(
        "KEPT", partner=partner_a.partner, at=now - MISSES_KEPT + datetime.timedelta(minutes=1)
    )
    risk_scan(at=now)
    assert list(CouponMiss.objects.values_list("code", flat=True)) == ["KEPT"]


def test_a_staff_account_is_named_as_it_is_even_when_it_reads_like_a_choice(client, approver, store):
    """A clerk whose login is "store" (the demo's): the case says who, not "per store"."""
    from django.contrib.auth.models import User

    clerk = User.objects.create_user("store")
    guessing_rule("staff")
    day = timezone.localdate() - datetime.timedelta(days=1)
    at = timezone.make_aware(datetime.datetime.combine(day, datetime.time(15)))
    for n in range(4):
        coupon_miss_record(f"C{n}", store=store, user=clerk, at=at)
    risk_scan(day)
    login(client, approver)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    page = client.get(reverse("admin:campaigns_riskcase_change", args=[RiskCase.objects.get().pk]))
    assert "统计维度: 每店员账号; 对象: store; 考核周期: 每小时" in page.content.decode()


def test_simulating_a_guessing_rule_counts_who_it_would_have_caught(en_operator, partner_a):
    rule = guessing_rule()
    day = timezone.localdate() - datetime.timedelta(days=2)
    at = timezone.make_aware(datetime.datetime.combine(day, datetime.time(3)))
    for n in range(4):
        coupon_miss_record(f"SIM{n}", partner=partner_a.partner, at=at)
    url = reverse("admin:campaigns_riskrule_simulate", args=[rule.pk])
    response = en_operator.get(url, {"start": str(day), "end": str(timezone.localdate())})
    assert dict(response.context["rows"]) == {
        "partners, stores or accounts caught": "1",
        "cases it would have opened": "1",
    }
    page = response.content.decode()
    assert (
        "<h3>Partners, stores or accounts caught per day</h3>" in page
        and "Fine as far as is known" not in page
    )
    assert not RiskCase.objects.exists()
