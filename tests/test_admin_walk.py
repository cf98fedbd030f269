"""Store staff see their own stores only, and personal data masked, on every admin page.

The walk visits every page registered in the admin site (tests/admin_walk.py) as store staff
of store A, with data in store A, store B and the demo's dozen stores, and looks for anything
of the other stores (member numbers, names, phones, e-mails, cards, order numbers, coupon codes,
store names, file names) and for unmasked personal data of anyone. A page added later is walked
too: it passes only if it is scoped and masked, or closed to store staff.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from benefits.models import Coupon, CouponRedemption
from config.common.roles import Role, sync_role_permissions
from members.imports.models import ImportRun
from members.models import Identity, Member, Store
from members.phones import national_digits
from members.purchases.models import Purchase
from points.models import Account
from tests.admin_walk import admin_pages, response_text
from tests.conftest import login
from tests.walk_data import WalkData, build

pytestmark = pytest.mark.django_db

#: A mainland mobile in any way people write it, not part of a longer number.
PHONE = re.compile(r"(?<![\d*])(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)")
#: An e-mail address whose local part is not masked (``o***@example.com`` is).
EMAIL = re.compile(r"[\w.+-]{2,}@[\w-]+\.[\w.-]+")

#: Pages that show store A's personal data in full to its staff, and why.
FULL_DATA_ALLOWED = {
    # the rows of the uploader's own file, given back to be corrected and uploaded again
    "imports_importrun_rejected_csv": "the uploader's own file",
}


@pytest.fixture
def walk(make_user) -> WalkData:
    return build(make_user)


def other_stores_markers(data: WalkData) -> set[str]:
    """What store A's staff must never read: every trace of members store A does not serve."""
    others = Member.objects.exclude(pk__in=[m.pk for m in data.members_a])
    markers: set[str] = set()
    for number, name, mobile, email in others.values_list("member_number", "name", "mobile", "email"):
        markers |= {number, name if len(name) >= 2 else "", national_digits(str(mobile or "")), email}
    markers |= set(Identity.objects.filter(member__in=others).values_list("value", flat=True))
    markers |= set(Purchase.objects.filter(member__in=others).values_list("order_number", flat=True))
    for coupon in Coupon.objects.filter(member__in=others):
        markers |= {coupon.code, coupon.display_code}
    redeemed_elsewhere = CouponRedemption.objects.exclude(store=data.store_a)
    markers |= set(redeemed_elsewhere.values_list("order_number", flat=True))  # WALK-B-C1
    markers |= set(Store.objects.exclude(pk=data.store_a.pk).values_list("name", flat=True))
    markers |= set(ImportRun.objects.exclude(created_by=data.staff_a).values_list("file_name", flat=True))
    markers |= {"WALK-B-IMP-1", "WALK-B-IMP-2", "13600000077"}  # store B's import rows
    return {m for m in markers if m and len(m) >= 2}


def own_personal_data(data: WalkData) -> set[str]:
    """Store A's members' personal data, which its staff read masked only."""
    values: set[str] = set()
    for member in data.members_a:
        values |= {member.name, national_digits(member.mobile.as_e164), member.email}
        values |= set(
            member.identities.filter(kind=Identity.Kind.WECHAT_UNIONID).values_list("value", flat=True)
        )
    return values


def test_store_staff_see_nothing_of_other_stores_and_no_personal_data(client, walk):
    markers = other_stores_markers(walk)
    own = own_personal_data(walk)
    assert (
        "司马乙" in markers and "WALK-B-0001" in markers and "走查乙店" in markers and "WALK-B-C1" in markers
    )
    login(client, walk.staff_a)
    pages = admin_pages(walk.named)
    assert len(pages) > 200  # every ModelAdmin, with objects of A and B
    leaks: list[str] = []
    opened = 0
    for page in pages:
        response = client.get(page.url, follow=True)
        assert response.status_code < 500, page.url
        if response.redirect_chain and "/admin/login/" in response.redirect_chain[-1][0]:
            continue
        if response.status_code != 200:
            continue
        opened += 1
        text = response_text(response)
        found = sorted(m for m in markers if m in text)
        if found:
            leaks.append(f"{page.url}: other stores' {found[:5]}")
        if page.name in FULL_DATA_ALLOWED:
            continue
        unmasked = sorted({v for v in own if v in text} | set(PHONE.findall(text)) | set(EMAIL.findall(text)))
        if unmasked:
            leaks.append(f"{page.url}: personal data {unmasked[:5]}")
    assert leaks == [], "\n".join(leaks)
    assert opened > 20  # the walk did reach store A's pages


def test_store_staff_cannot_export_or_browse_points_accounts(client, walk):
    login(client, walk.staff_a)
    own_account = walk.named[Account][0]  # of store A's member
    assert own_account.member_id == walk.members_a[0].pk
    for url in [
        reverse("admin:members_member_export"),
        reverse("admin:points_account_changelist"),
        reverse("admin:points_account_change", args=[own_account.pk]),
    ]:
        assert client.get(url).status_code == 403, url


def test_a_member_of_another_store_opens_after_an_exact_lookup_masked(client, walk):
    """At the counter the customer gives their phone: staff of A find a member of B, as before."""
    login(client, walk.staff_a)
    page = reverse("admin:members_member_change", args=[walk.member_b.pk])
    before = client.get(page, follow=True).content.decode()
    assert walk.member_b.member_number not in before
    found = client.get(reverse("admin:members_member_changelist"), {"q": "136 0000 0002"}).content.decode()
    assert walk.member_b.member_number in found and "司*" in found and "司马乙" not in found
    after = client.get(page).content.decode()
    assert walk.member_b.member_number in after and "136****0002" in after
    assert "司马乙" not in after and "13600000002" not in after


def test_a_member_of_their_own_store_opens_without_lookup(client, walk):
    login(client, walk.staff_a)
    for member in walk.members_a:  # registered at A; registered online and bought at A
        response = client.get(reverse("admin:members_member_change", args=[member.pk]))
        assert response.status_code == 200 and member.member_number in response.content.decode()
        assert "积分" in response.content.decode()  # balances on the member page, as at the counter


def test_store_staff_lose_the_points_accounts_list_on_migrate(db):
    """A deployment whose store staff group still has it (granted by an earlier version)."""
    from django.contrib.auth.models import Permission

    group = Group.objects.get(name=Role.STORE_STAFF.value)
    group.permissions.add(Permission.objects.get(codename="view_account", content_type__app_label="points"))
    sync_role_permissions()
    assert not group.permissions.filter(codename="view_account").exists()
    assert group.permissions.filter(codename="redeem_coupon").exists()


def test_store_staff_open_no_version_of_a_member_or_an_import_profile(client, walk):
    """Past versions hold previous full values (members) and every store's codes (profiles)."""
    from members.imports.models import ImportProfile

    login(client, walk.staff_a)
    member = walk.members_a[0]
    profile = next(p for p in ImportProfile.objects.order_by("pk") if p.history.exists())
    for obj in (member, profile):
        version = obj.history.first().history_id
        meta = obj._meta
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_simple_history", args=[obj.pk, version])
        assert client.get(url).status_code == 403, url


def test_the_counter_lists_and_undoes_only_its_own_stores_redemptions(client, walk):
    """Store A's counter lists A's redemption of the day with its undo button, never B's; an
    undo posted for B's (its id guessed) changes nothing."""
    login(client, walk.staff_a)
    url = reverse("admin:benefits_coupon_redeem")
    rows = client.get(url).context["recent"]
    assert [(row["store"], row["undoable"]) for row in rows] == [(walk.store_a, True)]
    theirs = CouponRedemption.objects.get(store=walk.store_b)
    client.post(url, {"void": theirs.pk})
    theirs.refresh_from_db()
    assert theirs.voided_at is None and theirs.coupon.status == Coupon.Status.REDEEMED
    ours = CouponRedemption.objects.get(store=walk.store_a)
    client.post(url, {"void": ours.pk})
    ours.refresh_from_db()
    assert ours.voided_by == walk.staff_a and ours.coupon.status == Coupon.Status.ISSUED
