"""The set-based pipeline for imports gives exactly what ``purchase_process`` gives one purchase
at a time, in order: same award lines, ledger entries and lots, balances, tiers, tier changes,
upgrade coupons and upgrade-campaign awards. Each scenario runs both ways on the same data (the
single path inside a rolled-back transaction) and compares everything by natural keys."""

from __future__ import annotations

import datetime

import pytest
from django.db import transaction

from benefits.models import Coupon, Entitlement
from campaigns.earning.batch import batchable, purchases_process_many
from campaigns.earning.pipeline import purchase_process
from campaigns.models import Award, AwardLine, Campaign, Participation
from campaigns.selectors import rule_book
from members.models import Member
from points.models import Account, Entry
from points.selectors import ledger_problems
from tests.campaigns.conftest import NOW, buy, campaign
from tests.factories import MemberFactory
from tests.tiers.conftest import local
from tiers.models import MemberTier, TierChange
from tiers.services import tier_override

AT = NOW + datetime.timedelta(days=1)
pytestmark = pytest.mark.django_db


class Rollback(Exception):
    pass


def snapshot() -> dict:
    return {
        "lines": sorted(
            AwardLine.objects.values_list(
                "award__key", "kind", "point_type__code", "amount", "campaign__code", "cny", "params"
            )
        ),
        "awards": sorted(Award.objects.values_list("key", "kind", "member__member_number", "occurred_at")),
        "accounts": sorted(
            Account.objects.values_list(
                "member__member_number", "point_type__code", "available", "pending", "debt", "earned"
            )
        ),
        "entries": sorted(
            Entry.objects.values_list(
                "idempotency_key", "kind", "amount", "balance_after", "fingerprint", "created_at", "source"
            )
        ),
        "lots": sorted(
            Account.objects.values_list(
                "member__member_number",
                "point_type__code",
                "lots__amount",
                "lots__remaining",
                "lots__status",
                "lots__available_at",
                "lots__expires_at",
            )
        ),
        "tiers": sorted(
            MemberTier.objects.values_list(
                "member__member_number",
                "tier__code",
                "earned_tier__code",
                "since",
                "period_start",
                "valid_until",
            )
        ),
        "changes": sorted(
            TierChange.objects.values_list(
                "member__member_number", "from_tier__code", "to_tier__code", "reason", "metric"
            )
        ),
        "coupons": sorted(Coupon.objects.values_list("member__member_number", "benefit__name", "origin")),
        "participations": sorted(
            Participation.objects.values_list(
                "campaign__code", "member__member_number", "control", "first_at"
            )
        ),
    }


def both_ways(purchases) -> tuple[dict, dict]:
    try:
        with transaction.atomic():
            book = rule_book()
            for purchase in purchases:
                purchase_process(purchase, at=AT, book=book)
            one_by_one = snapshot()
            raise Rollback
    except Rollback:
        pass
    assert not Award.objects.exists()
    awards = purchases_process_many(purchases, book=rule_book(), at=AT)
    assert [award.purchase_id for award in awards] == [purchase.pk for purchase in purchases]
    assert ledger_problems() == {}
    return one_by_one, snapshot()


def test_the_same_as_one_by_one_with_tiers_upgrades_and_campaigns(ladder, free_shipping):
    Entitlement.objects.create(benefit=free_shipping, tier=ladder["silver"], quantity=2, period="monthly")
    campaign(name="双倍积分", multiplier=2)
    campaign(
        name="升级礼", trigger=Campaign.Trigger.TIER_UPGRADE, bonus_points=88, upgrade_tier=ladder["silver"]
    )
    members = [MemberFactory() for _ in range(5)]
    tier_override(
        member=members[4],
        tier=ladder["gold"],
        until=local(2027, 6, 1),
        reason="status match",
        at=NOW,
        actor=None,
    )
    day = datetime.timedelta(days=1)
    plan = [  # (member, paid, days before NOW): growth crosses 1,000 and 5,000 on the way
        (0, "600.50", 30), (1, "99", 29), (0, "450", 28), (2, "1200", 27), (0, "3999.99", 20),
        (3, "10", 19), (1, "950", 18), (0, "20", 10), (4, "300", 9), (2, "0.99", 8), (1, "5", 2),
    ]  # fmt: skip
    purchases = [buy(members[m], paid, at=NOW - days * day) for m, paid, days in plan]
    assert batchable(rule_book())
    one_by_one, batched = both_ways(purchases)
    assert one_by_one == batched
    assert len(batched["changes"]) >= 3 and any(coupon for coupon in batched["coupons"])
    # 升级礼 (silver and above) for members 0, 1, 2 reaching silver, and member 0 again at gold
    assert Award.objects.filter(kind=Award.Kind.LIFECYCLE).count() == 4


def test_a_chunk_processed_again_returns_the_awards_and_writes_nothing(ladder):
    purchases = [buy(MemberFactory(), "100") for _ in range(3)]
    first = purchases_process_many(purchases, book=rule_book(), at=AT)
    entries = Entry.objects.count()
    again = purchases_process_many(purchases[::-1], book=rule_book(), at=AT)
    assert [a.pk for a in again] == [a.pk for a in first][::-1] and Entry.objects.count() == entries


def test_limited_campaigns_and_closed_members_take_the_single_path(ladder):
    campaign(name="限量", bonus_points=50, member_max_times=1)
    assert not batchable(rule_book())
    member = MemberFactory()
    purchases = [buy(member, "100"), buy(member, "100")]
    one_by_one, batched = both_ways(purchases)
    assert one_by_one == batched
    assert AwardLine.objects.filter(campaign__name="限量").count() == 1

    Campaign.objects.update(status=Campaign.Status.PAUSED)  # paused: gives nothing
    closed = MemberFactory()
    late = buy(closed, "10")
    Member.objects.filter(pk=closed.pk).update(status=Member.Status.CLOSED)
    with pytest.raises(Exception, match="closed"):
        purchases_process_many([late], book=rule_book(), at=AT)
