"""Benefits in the admin: the counter's coupon redemption (核销), the coupon list, and coupons
and redemptions on the member page. The rewards catalogue and the fulfilment queue:
test_admin_rewards.py."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from benefits.coupons import coupon_issue
from benefits.models import Benefit, Coupon, Entitlement, Reward
from tests.benefits.conftest import earn_now, points_of, redeem_reward
from tests.conftest import login
from tests.factories import MemberFactory, StoreFactory
from tiers.models import Tier
from tiers.services import tier_refresh

pytestmark = pytest.mark.django_db

REDEEM = reverse("admin:benefits_coupon_redeem")
COUPONS = reverse("admin:benefits_coupon_changelist")


@pytest.fixture
def tier_ladder(db) -> dict[str, Tier]:
    tiers = {"member": Tier.objects.get(rank=0)}
    for rank, (code, name, threshold) in enumerate(
        [("silver", "银卡", 1000), ("gold", "金卡", 5000), ("diamond", "钻石", 20000)], start=1
    ):
        tiers[code] = Tier.objects.create(rank=rank, code=code, name=name, threshold=threshold)
    return tiers


@pytest.fixture
def dine_in_voucher(db) -> Benefit:
    """A coupon's benefit (the conftest's ``voucher`` is a reward)."""
    return Benefit.objects.create(
        name="满200减20",
        kind=Benefit.Kind.AMOUNT_OFF,
        value="20.00",
        min_spend="200.00",
        conditions="堂食可用",
    )


@pytest.fixture
def coupon(member, dine_in_voucher) -> Coupon:
    return coupon_issue(member, benefit=dine_in_voucher, origin=Coupon.Origin.MANUAL)


@pytest.fixture
def counter(store_staff, store):
    """The store staff user works at ``store``."""
    store.staff.add(store_staff)
    return store_staff


# --- the counter: redeeming a coupon ----------------------------------------------------------


def test_store_staff_redeem_a_coupon_at_their_store(en, counter, store, coupon):
    login(en, counter)
    form = en.get(REDEEM).context["form"]
    assert form.initial["store"] == store.pk  # their only store, preselected
    typed = coupon.display_code.lower().replace("-", " ")  # as typed at the till
    check = en.post(REDEEM, {"store": store.pk, "code": typed, "amount": "236.50"})
    page = check.content.decode()
    assert check.status_code == 200
    assert "满200减20" in page and "¥20 off" in page and "minimum spend ¥200" in page and "堂食可用" in page
    assert "张*" in page and "138****5678" in page
    assert "张伟" not in page and "13812345678" not in page  # store staff see the member masked
    assert dict(check.context["facts"])["discount"] == "¥20.00"
    assert 'name="redeem"' in page and 'name="amount" value="236.50"' in page
    done = en.post(
        REDEEM, {"store": store.pk, "code": coupon.code, "amount": "236.50", "redeem": "1"}, follow=True
    )
    assert done.status_code == 200
    assert "Redeemed 满200减20" in done.content.decode() and "¥20.00 off" in done.content.decode()
    coupon.refresh_from_db()
    assert coupon.status == "redeemed"
    assert coupon.redeemed_store == store and coupon.redeemed_by == counter
    used = coupon.coupon_redemptions.get()
    assert (used.amount, used.eligible_amount, used.discount, used.channel) == (
        Decimal("236.50"),
        Decimal("236.50"),
        Decimal("20.00"),
        "store",
    )


def test_redeeming_twice_says_already_redeemed_and_changes_nothing(en, counter, store, coupon):
    login(en, counter)
    en.post(REDEEM, {"store": store.pk, "code": coupon.code, "amount": "200", "redeem": "1"})
    coupon.refresh_from_db()
    first = (coupon.redeemed_at, coupon.redeemed_store_id, coupon.redeemed_by_id)
    again = en.post(REDEEM, {"store": store.pk, "code": coupon.code, "amount": "200", "redeem": "1"})
    assert again.status_code == 200
    assert "Already redeemed at S0000 上海徐汇店" in again.content.decode()
    assert 'name="redeem"' not in again.content.decode()
    checked = en.post(REDEEM, {"store": store.pk, "code": coupon.code})
    assert "Already redeemed" in checked.content.decode()
    coupon.refresh_from_db()
    assert (coupon.redeemed_at, coupon.redeemed_store_id, coupon.redeemed_by_id) == first


def test_store_staff_cannot_redeem_at_a_store_they_do_not_work_at(en, counter, store, coupon):
    elsewhere = StoreFactory(code="S0999", name="北京朝阳店")
    login(en, counter)
    assert elsewhere.pk not in [s.pk for s in en.get(REDEEM).context["form"].fields["store"].queryset]
    response = en.post(REDEEM, {"store": elsewhere.pk, "code": coupon.code, "redeem": "1"})
    assert response.status_code == 200
    assert response.context["form"].errors["store"]
    coupon.refresh_from_db()
    assert coupon.status == "issued" and coupon.redeemed_store is None


@pytest.mark.parametrize(
    ("store_value", "code", "message"),
    [
        ("ok", "", "This field is required."),
        ("ok", " -- ", "Type or scan the coupon code."),
        ("ok", "NOT-A-REAL-CODE", "No coupon has this code."),
        ("ok", "<script>alert(1)</script>" * 3, "Ensure this value has at most 40 characters"),
        ("999999", "ABCD", "Select a valid choice."),
        ("abc", "ABCD", "Select a valid choice."),
    ],
)
def test_garbage_input_gets_a_clear_message(en, counter, store, coupon, store_value, code, message):
    login(en, counter)
    store_id = store.pk if store_value == "ok" else store_value
    for extra in ({}, {"redeem": "1"}):
        response = en.post(REDEEM, {"store": store_id, "code": code, **extra})
        assert response.status_code == 200
        assert message in response.content.decode()
    assert Coupon.objects.get().status == "issued"


def test_expired_or_voided_coupons_say_why(en, counter, store, member, dine_in_voucher):
    now = timezone.now()
    old = coupon_issue(member, benefit=dine_in_voucher, origin="manual", at=now - timezone.timedelta(days=60))
    login(en, counter)
    response = en.post(REDEEM, {"store": store.pk, "code": old.code})
    assert "Expired on" in response.content.decode() and 'name="redeem"' not in response.content.decode()


def test_redeeming_needs_the_permission(client, finance, coupon, store):
    login(client, finance)
    assert client.get(REDEEM).status_code == 403
    assert client.post(REDEEM, {"store": store.pk, "code": coupon.code, "redeem": "1"}).status_code == 403
    assert Coupon.objects.get().status == "issued"


def test_administrator_sees_the_member_in_full_on_the_redemption_page(en, administrator, store, coupon):
    page = login(en, administrator).post(REDEEM, {"store": store.pk, "code": coupon.code}).content.decode()
    assert "张伟" in page


def test_redemption_page_is_linked_from_the_coupon_list_and_the_app_page(client, counter):
    login(client, counter)
    assert REDEEM in client.get(COUPONS).content.decode()
    assert REDEEM in client.get(reverse("admin:app_list", args=["benefits"])).content.decode()


# --- the coupon list --------------------------------------------------------------------------


def test_store_staff_find_coupons_only_by_exact_code_or_member_number(
    client, counter, member, coupon, dine_in_voucher
):
    other = coupon_issue(MemberFactory(name="李娜"), benefit=dine_in_voucher, origin="manual")
    login(client, counter)
    assert client.get(COUPONS).context["cl"].result_count == 0
    for term in [coupon.display_code.lower(), coupon.code, member.member_number]:
        found = client.get(COUPONS, {"q": term})
        assert list(found.context["cl"].result_list) == [coupon], term
        page = found.content.decode()
        assert "张*" in page and "张伟" not in page
    assert client.get(COUPONS, {"q": coupon.code[:8]}).context["cl"].result_count == 0  # no prefix search
    assert client.get(COUPONS, {"q": "张"}).context["cl"].result_count == 0
    assert other.code not in client.get(COUPONS, {"q": member.member_number}).content.decode()


def test_coupon_detail_masks_the_member_for_store_staff(client, counter, coupon):
    detail = reverse("admin:benefits_coupon_change", args=[coupon.pk])
    login(client, counter)
    # the member is not of the counter's stores: the coupon opens once its code was typed
    assert coupon.code not in client.get(detail, follow=True).content.decode()
    client.get(COUPONS, {"q": coupon.code})
    page = client.get(detail).content
    assert "张*" in page.decode() and "张伟" not in page.decode()


def test_operator_voids_a_coupon_and_is_recorded(client, operator, coupon):
    login(client, operator)
    response = client.post(COUPONS, {"action": "void", "_selected_action": [coupon.pk]})
    assert response.status_code == 302
    coupon.refresh_from_db()
    assert coupon.status == "voided" and coupon.voided_by == operator and coupon.void_reason
    assert LogEntry.objects.get(object_id=str(coupon.pk)).user == operator


def test_a_coupon_bought_with_points_is_cancelled_not_voided(en, operator, member):
    earn_now(member, 1000)
    reward = Reward.objects.create(
        name="咖啡券", kind=Reward.Kind.COUPON, points_price=300,
        benefit=Benefit.objects.create(name="咖啡一杯", kind=Benefit.Kind.GIFT),
    )  # fmt: skip
    redemption = redeem_reward(member, reward)
    login(en, operator)
    response = en.post(COUPONS, {"action": "void", "_selected_action": [redemption.coupon_id]}, follow=True)
    assert "cancel its redemption instead" in response.content.decode()
    assert Coupon.objects.get(pk=redemption.coupon_id).status == "issued"
    assert points_of(member) == 700


def test_store_staff_cannot_void(client, counter, coupon):
    login(client, counter)
    response = client.post(COUPONS, {"action": "void", "_selected_action": [coupon.pk], "q": coupon.code})
    assert response.status_code == 200  # "no action selected": the action is not theirs
    assert Coupon.objects.get().status == "issued"


def test_coupon_list_query_count_does_not_grow(
    client, operator, member, dine_in_voucher, django_assert_num_queries
):
    for _ in range(3):
        coupon_issue(member, benefit=dine_in_voucher, origin="manual")
    login(client, operator)
    client.get(COUPONS)
    # session, user, 2x permissions, benefit filter choices, capped count, page
    with django_assert_num_queries(8):
        response = client.get(COUPONS, {"status__exact": "issued"})
    assert len(response.context["cl"].result_list) == 3
    for _ in range(20):
        coupon_issue(MemberFactory(), benefit=dine_in_voucher, origin="manual")
    with django_assert_num_queries(8):
        response = client.get(COUPONS, {"status__exact": "issued"})
    assert len(response.context["cl"].result_list) == 23


# --- the member page --------------------------------------------------------------------------


def test_member_page_shows_tier_progress_coupons_and_redemptions(
    en, operator, member, tier_ladder, dine_in_voucher, gift
):
    earn_now(member, 1200, "growth")
    tier_refresh(member)
    earn_now(member, 1000)
    coupon = coupon_issue(member, benefit=dine_in_voucher, origin="manual")
    redeem_reward(member, gift)
    page = login(en, operator).get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    assert "银卡" in page and "3,800 more growth to reach 金卡." in page
    assert coupon.display_code in page and "满200减20" in page
    assert "保温杯" in page and "Waiting for fulfilment" in page


def test_member_page_lists_only_the_latest_twenty_coupons(client, operator, member, dine_in_voucher):
    now = timezone.now()
    coupons = [
        coupon_issue(member, benefit=dine_in_voucher, origin="manual", at=now - timezone.timedelta(minutes=n))
        for n in range(25)
    ]
    response = login(client, operator).get(reverse("admin:members_member_change", args=[member.pk]))
    formset = next(f.formset for f in response.context["inline_admin_formsets"] if f.formset.model is Coupon)
    assert [form.instance.pk for form in formset.forms] == [c.pk for c in coupons[:20]]


def test_member_page_query_count_with_every_inline(
    client, operator, member, tier_ladder, dine_in_voucher, gift, django_assert_num_queries
):
    benefit_types = Benefit.objects.create(name="免运费", kind=Benefit.Kind.FREE_SHIPPING)
    Entitlement.objects.create(benefit=benefit_types, tier=tier_ladder["silver"])
    earn_now(member, 1500, "growth")
    tier_refresh(member)
    earn_now(member, 5000)

    def add_history(n: int) -> None:
        for _ in range(n):
            coupon_issue(member, benefit=dine_in_voucher, origin="manual")
            redeem_reward(member, gift)

    add_history(2)
    login(client, operator)
    url = reverse("admin:members_member_change", args=[member.pk])
    client.get(url)
    # session, user, 2x permissions, member, tags (2), identities, consents; points: accounts, then
    # per account its open lots and latest entries (2 x 2; the rows are not headed by the account's
    # name, which took its member), and what the entries came from (one query per kind of source,
    # shared by the accounts: here the rewards); tiers: policy, ladder, status row, growth sum, tier
    # changes; coupons; redemptions; campaigns: earnings (their lines are one more query once
    # there are any, see tests/campaigns/test_admin.py); scoring: the member's RFM and lifecycle row;
    # the access log's row (PIPL: the operator saw the member unmasked); referrals: who referred
    # the member, the newest of those they referred, and how many they referred; households: the
    # member's household; points as cash: the member's holds at tills
    with django_assert_num_queries(32) as captured:
        client.get(url)
    add_history(6)
    with django_assert_num_queries(len(captured)):
        response = client.get(url)
    assert response.status_code == 200


# --- every page, every role -------------------------------------------------------------------


@pytest.mark.parametrize("role", ["operator", "finance", "approver", "store_staff", "administrator"])
def test_every_tiers_and_benefits_page_answers_each_role(request, client, role, member, tier_ladder, orders):
    from tiers.models import MemberTier, Plan, Subscription
    from tiers.services import tier_override
    from tiers.subscriptions import subscription_start

    plan = Plan.objects.create(code="plus", name="PLUS", price="99.00", tier=tier_ladder["silver"])
    subscription_start(member, plan=plan, payment_ref="PAY-1")
    tier_override(member, tier=tier_ladder["gold"], until=timezone.now() + timezone.timedelta(days=9),
                  reason="测试", actor=None)  # fmt: skip
    coupon = Coupon.objects.first()
    objects = {
        "tiers_tier": tier_ladder["member"],
        "tiers_tierpolicy": None,
        "tiers_membertier": MemberTier.objects.get(),
        "tiers_plan": plan,
        "tiers_subscription": Subscription.objects.get(),
        "benefits_benefit": coupon.benefit,
        "benefits_entitlement": None,
        "benefits_reward": orders[0].reward,
        "benefits_coupon": coupon,
        "benefits_redemption": orders[0],
    }
    login(client, request.getfixturevalue(role))
    for app in ["tiers", "benefits"]:  # 404: an app the role sees nothing of
        assert client.get(reverse("admin:app_list", args=[app])).status_code in (200, 404)
    urls = [REDEEM]
    for name, obj in objects.items():
        urls += [reverse(f"admin:{name}_changelist"), reverse(f"admin:{name}_add")]
        if obj is not None:
            urls.append(reverse(f"admin:{name}_change", args=[obj.pk]))
    urls.append(reverse("admin:members_member_change", args=[member.pk]))
    for url in urls:
        assert client.get(url).status_code in (200, 302, 403), url


def test_the_admin_index_links_store_staff_to_the_redemption_page(client, store_staff, operator):
    from django.urls import reverse

    url = reverse("admin:benefits_coupon_redeem")
    client.force_login(store_staff)
    assert url in client.get(reverse("admin:index")).content.decode()
    client.force_login(operator)
    assert url not in client.get(reverse("admin:index")).content.decode()
