"""The set-up of ``api_load.py``: the store, the partner and its key, the two cohorts of
members (ours and the ceiling's), optional webhook subscriptions and a segment campaign, and the
plan of purchases each cohort is sent."""

from __future__ import annotations

import datetime
import random
import uuid
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from campaigns.models import EarnRule
from members.models import Member, Store
from members.partners.models import Grant, PartnerMember
from members.partners.services import key_create, partner_create
from members.webhooks.models import EventType, WebhookEndpoint
from members.webhooks.services import endpoint_save
from points.models import Account, PointType
from tests.benchmarks.api_load_report import CEILING, OURS
from tests.benchmarks.common import sql
from tiers.models import Tier, TierPolicy
from tiers.services import lock_statuses

STORE = "BENCH01"


def set_up(members: int, subscribe: bool = False) -> tuple[int, str, int]:
    """The store, the partner and its key, both cohorts with accounts and tier rows. Returns
    (partner id, key text, store id)."""
    store = Store.objects.create(code=STORE, name="压测门店")
    partner = partner_create(code="bench", name="压测伙伴", grants=Grant.values, channels=["store"],
                             stores=[store], rate_per_minute=10**9)  # fmt: skip
    _key, text = key_create(partner=partner, name="bench")
    if subscribe:  # every event written in each purchase's transaction (delivery is not measured)
        endpoint_save(endpoint=WebhookEndpoint(partner=partner, url="https://93.184.215.14/hook",
                                               event_types=list(EventType.values)))  # fmt: skip
    types = list(PointType.objects.filter(code__in=["points", "growth"]))
    assert len(types) == 2 and Tier.objects.count() == 1, "the migrations' point types and entry tier only"
    rules = EarnRule.objects.filter(active=True, channel="", store=None, rate=1, rounding="floor")
    assert rules.count() == EarnRule.objects.count() == 2, "the migrations' base rules only (1 per CNY)"
    for prefix in (OURS, CEILING):
        Member.objects.bulk_create(Member(member_number=f"{prefix}{i:07d}", name=f"压测{i:04d}")
                                   for i in range(members))  # fmt: skip
        cohort = list(Member.objects.filter(member_number__startswith=prefix).order_by("pk"))
        Account.objects.bulk_create(Account(member=m, point_type=t) for m in cohort for t in types)
        with transaction.atomic():  # the tier rows exactly as the pipeline creates them on first need
            lock_statuses(cohort, timezone.now(), TierPolicy.current(), Tier.objects.get(rank=0))
        PartnerMember.objects.bulk_create(PartnerMember(partner=partner, member=m) for m in cohort)
    sql("VACUUM ANALYZE")
    return partner.pk, text, store.pk


def segment_campaign() -> None:
    """A live campaign for a dynamic segment nobody is in (see --segment-campaign)."""
    from campaigns.models import Campaign
    from campaigns.segments.models import Condition, Segment

    segment = Segment.objects.create(name="压测大客户")
    Condition.objects.create(segment=segment, field="spend", operator="gte", number=1_000_000, days=30)
    now = timezone.now()
    Campaign.objects.create(
        code="bench-segment", name="压测分群活动", status=Campaign.Status.ACTIVE, bonus_points=1,
        starts_at=now - datetime.timedelta(days=1), ends_at=now + datetime.timedelta(days=30),
        segment=segment,
    )  # fmt: skip


def make_plan(prefix: str, n: int, members: int, seed: int) -> list[tuple[dict, str]]:
    """``n`` purchases (request body, Idempotency-Key) of random members of the cohort ``prefix``:
    the same members (by index), amounts and times for every prefix with the same ``seed``."""
    rng, keys, now = random.Random(seed), random.Random(f"{prefix}-{seed}"), timezone.localtime()
    plan = []
    for i in range(n):
        paid = Decimal(rng.randint(1000, 80000)) / 100
        gross = (paid * Decimal("1.2")).quantize(Decimal("0.01"))
        at = now - datetime.timedelta(seconds=rng.randint(60, 3600))
        body = {
            "member_number": f"{prefix}{rng.randrange(members):07d}",
            "order_number": f"{prefix}-{seed}-{i:07d}",
            "channel": "store", "store": STORE, "occurred_at": at.isoformat(timespec="seconds"),
            "gross_amount": str(gross), "paid_amount": str(paid),
            "lines": [{"sku": f"SKU{i % 97:03d}", "name": "T恤", "category": "服装", "quantity": "1",
                       "amount": str(paid)}],
        }  # fmt: skip
        plan.append((body, str(uuid.UUID(int=keys.getrandbits(128), version=4))))
    return plan
