"""`make run` seeds demo data and prints one login per role; each printed login works; the apps
above members add points, tiers and benefits through their ``demo_seed`` hooks."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django_celery_beat.models import PeriodicTask

from benefits.models import Coupon, Redemption
from campaigns.models import Award, AwardLine, AwardReview, Campaign
from members.demo import demo_hooks
from members.management.commands.seed_demo import DEMO_PASSWORD, DEMO_USERS, STORE_USER_STORES
from members.models import Identity, Member, Store
from members.phones import normalize_mobile
from points.cash.models import Hold
from points.models import Entry, Lot
from points.selectors import ledger_problems
from tiers.models import MemberTier, Source, Subscription

pytestmark = pytest.mark.django_db


def seed(*args: str) -> str:
    out = io.StringIO()
    with override_settings(DEBUG=True):
        call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def test_every_printed_login_opens_the_admin(client):
    output = seed("--members", "40")
    for username, _role, _can in DEMO_USERS:
        assert username in output and DEMO_PASSWORD in output
        client.logout()
        response = client.post(
            "/admin/login/?next=/admin/", {"username": username, "password": DEMO_PASSWORD}
        )
        assert response.status_code == 302 and response["Location"] == "/admin/", username
        assert client.get("/admin/").status_code == 200
        assert client.get("/admin/members/member/").status_code == 200, username


def test_demo_members_are_consistent_and_if_empty_reuses_them():
    seed("--members", "200")
    assert Store.objects.count() >= 12 and Member.objects.count() == 200
    for member in Member.objects.all():
        assert normalize_mobile(member.mobile.as_e164) == member.mobile.as_e164
        primary = Identity.objects.get(member=member, is_primary_phone=True)
        assert primary.value == member.mobile.as_e164
    output = seed("--if-empty")
    assert Member.objects.count() == 200 and "operator" in output


def test_refuses_to_create_known_passwords_in_production():
    with override_settings(DEBUG=False), pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo", "--members", "1", stdout=io.StringIO())


def test_apps_above_members_declare_their_demo_hooks_in_dependency_order():
    assert [label for label, _hook in demo_hooks()] == [
        "points", "cash", "tiers", "benefits", "campaigns", "insight"
    ]  # fmt: skip


def test_demo_shows_tiers_and_benefits_and_the_books_balance():
    output = seed("--members", "200")
    assert (
        output.index("points:")
        < output.index("tiers:")
        < output.index("benefits:")
        < output.index("campaigns:")
    )

    assert ledger_problems() == {}
    # some paid part of a purchase with points at a till; a hold left behind was released
    assert Hold.objects.filter(status=Hold.Status.CAPTURED).exists()
    assert Hold.objects.filter(status=Hold.Status.RELEASED, release_reason="expired").exists()
    lots = set(Lot.objects.values_list("status", flat=True))
    assert {Lot.Status.PENDING, Lot.Status.AVAILABLE} <= lots  # last week's purchases still pending
    # ... and the activation job runs every minute, so they are seen becoming available
    activation = PeriodicTask.objects.get(name="points-activate-due-lots")
    assert (activation.crontab.minute, activation.crontab.hour) == ("*", "*")
    earned = set(MemberTier.objects.filter(source=Source.EARNED).values_list("tier__code", flat=True))
    assert {"silver", "gold", "diamond"} <= earned
    assert MemberTier.objects.filter(source=Source.PLAN, tier__code="gold").exists()
    assert MemberTier.objects.filter(source=Source.OVERRIDE, tier__code="diamond").exists()
    assert Subscription.objects.filter(plan__code="plus").count() >= 3

    assert Coupon.objects.filter(origin=Coupon.Origin.ENTITLEMENT, benefit__name="包邮券").exists()
    redeemed = Coupon.objects.filter(status=Coupon.Status.REDEEMED)
    assert redeemed.exists()
    assert {c.redeemed_store.code for c in redeemed} <= set(STORE_USER_STORES)
    assert {c.redeemed_by.username for c in redeemed} == {"store"}
    assert Redemption.objects.filter(status=Redemption.Status.COMPLETED, coupon__isnull=False).exists()
    assert Redemption.objects.filter(status=Redemption.Status.SHIPPED).exclude(tracking_number="").exists()

    statuses = set(Campaign.objects.values_list("status", flat=True))
    assert statuses == {"active", "ended", "submitted", "draft"}
    assert Campaign.objects.get(code="double-11").lines.exists()  # purchases ran through the pipeline
    assert Award.objects.filter(kind=Award.Kind.REFUND).exists()
    assert not AwardLine.objects.filter(campaign__status__in=["draft", "submitted"]).exists()
    held = AwardReview.objects.get(status=AwardReview.Status.HELD)  # the approvers' queue has a case
    assert held.award.purchase.paid_amount == Decimal("36800.00")

    entries = Entry.objects.count()
    seed("--if-empty")
    assert Entry.objects.count() == entries and Member.objects.count() == 200


def test_a_second_run_adds_to_the_demo_and_keeps_the_books_balanced():
    seed("--members", "60")
    first = Member.objects.order_by("pk").last()
    seed("--members", "60")
    assert Member.objects.count() == 120
    assert Entry.objects.filter(account__member__pk__gt=first.pk).exists()
    assert ledger_problems() == {}
