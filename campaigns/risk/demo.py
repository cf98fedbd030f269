"""The demo programme's risk desk: the starter rules switched on, and for the nightly scan to find
last night, a ring of three members passing points round (members the demo already has: it adds
none of its own) and the demo store clerk's account trying made-up coupon codes at the counter."""

from __future__ import annotations

import datetime
import hashlib

from django.utils import timezone

from benefits.coupons import coupon_miss_record
from campaigns.risk.scan import risk_scan
from campaigns.risk.starter import starter_rules
from members.demo import DemoRun
from members.models import Member
from members.selectors import stores_of
from points.models import Account
from points.services import points_transfer

RING_POINTS = 50
GUESSES = 15  # in half an hour: over the starter rule's 10 an hour per staff account


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
    clerk = run.users.get("store")
    counter = stores_of(clerk).order_by("code").first() if clerk is not None else None
    if counter is not None:
        afternoon = evening - datetime.timedelta(hours=7)  # 15:00
        for n in range(GUESSES):
            code = hashlib.sha1(f"{run.seed}-{run.existing}-{n}".encode()).hexdigest()[:12]
            at = afternoon + datetime.timedelta(minutes=2 * n)
            coupon_miss_record(code, store=counter, user=clerk, at=at)
    opened = risk_scan(yesterday, at=run.now)
    return f"{len(rules)} risk rules; {sum(opened.values())} risk cases from last night's scan"
