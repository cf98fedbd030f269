"""``manage.py seed_scale`` (``campaigns.scale``): a programme at scale by COPY whose books
balance and whose rows the application goes on from (PostgreSQL only, an empty database)."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, F, Sum
from django.utils import timezone

from benefits.models import Coupon, Redemption
from campaigns.earning.facts import purchase_record_and_earn
from campaigns.models import Award, AwardLine, Campaign, Participation
from campaigns.results import campaign_results
from campaigns.scale import SeedRefused, seed
from campaigns.scale.render import earn_fingerprint, reverse_fingerprint
from members.models import Identity, Member, Store
from members.purchases.models import MemberEvent, Purchase, Refund
from points.models import Account, Entry, Lot
from points.selectors import ledger_problems
from points.services.common import fingerprint
from tiers.models import MemberTier, TierChange

NOW = timezone.make_aware(datetime.datetime(2026, 11, 20, 21, 30))


def test_the_written_fingerprints_are_the_ledgers():
    at = int(datetime.datetime(2025, 3, 1, 2, 3, 4, tzinfo=datetime.UTC).timestamp())
    moment = datetime.datetime.fromtimestamp(at, datetime.UTC)
    assert earn_fingerprint(7, "points", 120, "purchase", "purchase:9", at) == fingerprint(
        op="earn",
        member=7,
        type="points",
        amount=120,
        source="purchase",
        ref="purchase:9",
        available_at=moment,
    )
    assert reverse_fingerprint(7, "growth", 35, "purchase:9") == fingerprint(
        op="reverse", member=7, type="growth", amount=35, source="purchase", ref="purchase:9"
    )


@pytest.mark.django_db(transaction=True)
def test_a_seeded_programme_balances_and_has_the_proportions_asked():
    report = seed(members=3_000, purchases=30_000, years=2, seed=1, stores=20, now=NOW, fast=False)

    assert Member.objects.count() == 3_000 == report.counts["members_member"]
    purchases = Purchase.objects.count()
    assert 28_500 <= purchases <= 31_500  # about what was asked (each member's count is drawn)
    # every member has a primary phone identity with their own number
    phones = Identity.objects.filter(kind=Identity.Kind.PHONE, is_primary_phone=True)
    assert phones.count() == 3_000 == phones.values("value").distinct().count()
    assert not phones.exclude(value=F("member__mobile")).exists()
    # Pareto: a fifth of the members buy nothing, the busiest tenth make over a third of purchases
    per_member = sorted(Purchase.objects.values("member").annotate(n=Count("pk")).values_list("n", flat=True))
    assert 2_100 <= len(per_member) <= 2_600
    assert sum(per_member[-300:]) > purchases / 3
    paid = Purchase.objects.aggregate(total=Sum("paid_amount"))["total"] / purchases
    assert Decimal(100) <= paid <= Decimal(260)  # lognormal around ¥120, mean ~¥160

    refunds = Refund.objects.count()
    assert 0.025 * purchases <= refunds <= 0.055 * purchases
    assert Purchase.objects.exclude(refunded_amount=0).count() == refunds
    assert MemberEvent.objects.count() > 0.3 * purchases

    # the books: every invariant of reconcile_points, and the ledger's shape
    assert ledger_problems() == {}
    out = io.StringIO()
    call_command("reconcile_points", stdout=out)
    assert "every invariant holds" in out.getvalue()
    entries = Entry.objects.count()
    assert 2.3 * purchases <= entries <= 3.5 * purchases  # 30 million for 10 million purchases
    kinds = dict(Entry.objects.values("kind").annotate(n=Count("pk")).values_list("kind", "n"))
    assert kinds["earn"] > 2 * purchases and kinds["reverse"] >= refunds
    assert kinds["spend"] == Redemption.objects.count() > 0
    assert kinds["expire"] > 0 and kinds.get("adjust", 0) > 0
    assert Entry.objects.filter(source="campaign", kind="earn").exists()  # upgrade gifts
    assert Entry.objects.filter(fingerprint="").count() == 0
    assert Account.objects.count() == 6_000
    # pending only within the return window before now; expired lots hold nothing
    window = NOW - datetime.timedelta(days=7)
    pending = Lot.objects.filter(status=Lot.Status.PENDING)
    assert pending.exists() and not pending.filter(entry__created_at__lte=window).exists()
    assert not Lot.objects.filter(status=Lot.Status.AVAILABLE, available_at__gt=NOW).exists()
    assert not Lot.objects.filter(expires_at__lte=NOW, remaining__gt=0).exists()
    # balance_after runs per account in id order (the last one is checked by reconcile)
    account = Account.objects.order_by("-earned").first()
    running = 0
    for amount, after in (
        Entry.objects.filter(account=account).order_by("id").values_list("amount", "balance_after")
    ):
        running += amount
        assert after == running

    # tiers: upgrades as growth crossed thresholds, downgrades at the review
    reasons = dict(TierChange.objects.values("reason").annotate(n=Count("pk")).values_list("reason", "n"))
    assert reasons["upgrade"] > 0 and reasons.get("downgrade", 0) > 0
    assert MemberTier.objects.filter(tier__rank__gt=0).exists()
    # coupons in every state; campaigns with control groups whose results can be read
    statuses = set(Coupon.objects.values_list("status", flat=True))
    assert {"issued", "redeemed", "expired"} <= statuses
    festival = Campaign.objects.get(code="double-11-2025")
    results = campaign_results(festival, now=NOW)
    assert results.participants > 0 and results.control > 0 and results.cny > 0
    assert results.sales_per_participant and results.sales_per_control
    assert Participation.objects.filter(control=True).exists()
    assert AwardLine.objects.filter(campaign=festival, cny__gt=0).exists()


@pytest.mark.django_db(transaction=True)
def test_the_application_goes_on_from_a_seeded_database_and_a_second_seed_is_refused():
    seed(members=200, purchases=1_500, years=2, now=NOW)
    member = Member.objects.filter(status=Member.Status.ACTIVE).order_by("pk").first()
    # ids go on after the seeded ones (sequences) and the pipeline's keys do not clash
    purchase, _created, award = purchase_record_and_earn(
        member=member,
        source="pos",
        order_number="AFTER-SEED-1",
        channel="store",
        store=Store.objects.order_by("code").first(),
        occurred_at=NOW,
        gross_amount=Decimal("88.00"),
        paid_amount=Decimal("88.00"),
        lines=[],
        now=NOW,
        at=NOW,
    )
    assert purchase.pk == Purchase.objects.order_by("-pk").values_list("pk", flat=True)[1] + 1
    assert Entry.objects.filter(source_ref=award.key).count() == 2
    assert ledger_problems() == {}
    assert Award.objects.filter(key=f"purchase:{purchase.pk}").count() == 1

    with pytest.raises(CommandError, match="there are members already"):
        call_command("seed_scale", "--members", "10", "--purchases", "10", stdout=io.StringIO())


def test_refused_on_another_database_than_postgresql(monkeypatch):
    from campaigns.scale import run

    monkeypatch.setattr(run.connection, "vendor", "sqlite")
    with pytest.raises(SeedRefused, match="PostgreSQL only"):
        run.seed_check()
