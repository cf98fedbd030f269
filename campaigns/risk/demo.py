"""The demo programme's risk desk: the starter rules switched on, and for the nightly scan to find
last night, a ring of three members passing points round (members the demo already has: it adds
none of its own) and a partner's script trying made-up coupon codes."""

from __future__ import annotations

import datetime
import hashlib

from django.utils import timezone

from benefits.coupons import coupon_miss_record
from campaigns.risk.scan import risk_scan
from campaigns.risk.starter import starter_rules
from members.demo import DemoRun
from members.models import Member
from members.partners.models import Partner
from points.models import Account
from points.services import points_transfer

RING_POINTS = 50
GUESSES = 40


def seed(run: DemoRun) -> str:
    rules = starter_rules(active=True)
    holders = Account.objects.filter(
        member__in=run.members.filter(status=Member.Status.ACTIVE, merged_into=None),
        point_type__code="points",
        available__gte=RING_POINTS,
    ).order_by("member_id")
    ring = [account.member for account in holders.select_related("member")[:3]]
    if len(ring) < 3:
        return f"{len(rules)} risk rules"
    yesterday = timezone.localdate(run.now) - datetime.timedelta(days=1)
    evening = timezone.make_aware(datetime.datetime.combine(yesterday, datetime.time(22)))
    for n, member in enumerate(ring):
        points_transfer(
            from_member=member,
            to_member=ring[(n + 1) % 3],
            point_type="points",
            amount=RING_POINTS,
            idempotency_key=f"demo-ring-{run.seed}-{run.existing}-{n}",
            at=evening + datetime.timedelta(minutes=n),
        )
    partner = Partner.objects.order_by("pk").first()
    if partner is not None:
        night = evening - datetime.timedelta(hours=19)  # 03:00
        for n in range(GUESSES):
            code = hashlib.sha1(f"{run.seed}-{run.existing}-{n}".encode()).hexdigest()[:16]
            coupon_miss_record(code, partner=partner, at=night + datetime.timedelta(seconds=20 * n))
    opened = risk_scan(yesterday, at=run.now)
    return f"{len(rules)} risk rules; {sum(opened.values())} risk cases from last night's scan"
