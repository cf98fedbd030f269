"""Each owning service emits its event in the fact's transaction, once per fact: a purchase, a
tier upgrade, coupons, the expiry and activation jobs, the expiring-points announcement."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from benefits.coupons import coupon_issue, coupon_redeem
from benefits.models import Benefit
from campaigns.earning.pipeline import purchase_process
from members.partners.services import partner_member_upsert
from members.purchases.services import purchase_record
from members.services import IdentityKey
from members.webhooks.models import EventType, WebhookEvent
from points.models import Lot
from points.services import lots_activate_due, lots_expire_due, points_earn
from points.webhooks import expiring_announce
from tests.factories import MemberFactory, StoreFactory
from tests.webhooks.conftest import make_partner, subscribe
from tiers.models import Tier

pytestmark = pytest.mark.django_db
PUBLIC = "http://93.184.215.14/hook"


def bodies(event_type: str) -> list[dict]:
    rows = WebhookEvent.objects.filter(event_type=event_type).order_by("pk").values_list("body", flat=True)
    return [json.loads(body) for body in rows]


@pytest.fixture
def brand(db):
    partner = make_partner("brand", first_party=True)
    subscribe(partner, PUBLIC)
    return partner


def test_a_purchase_emits_its_award_its_points_and_the_upgrade(brand):
    Tier.objects.create(rank=1, code="silver", name="银卡", threshold=100)
    member = MemberFactory()
    store = StoreFactory()
    purchase, _ = purchase_record(member=member, source="pos", order_number="P-1", channel="store",
                                  occurred_at=timezone.now(), gross_amount=Decimal("388.00"),
                                  paid_amount=Decimal("388.00"), store=store)  # fmt: skip
    award = purchase_process(purchase)
    (awarded,) = bodies("purchase.awarded")
    assert awarded["member"] == member.member_number
    assert awarded["data"]["award_id"] == award.pk
    assert awarded["data"]["purchase_id"] == purchase.pk
    assert awarded["data"]["points"] == {"points": 388, "growth": 388}
    changes = sorted(
        (b["data"]["point_type"], b["data"]["change"], b["data"]["pending"]) for b in bodies("points.changed")
    )
    assert changes == [("growth", 388, 388), ("points", 388, 388)]  # fmt: skip
    (upgrade,) = bodies("tier.changed")
    assert upgrade["data"] == {"from_tier": "member", "to_tier": "silver", "reason": "upgrade"}
    # the member's sequence counts every event of theirs, in order: enrolled first
    assert sorted(WebhookEvent.objects.filter(member=member).values_list("sequence", flat=True)) == [
        1,
        2,
        3,
        4,
        5,
    ]
    purchase_process(purchase)  # a retry of the same purchase emits nothing
    assert WebhookEvent.objects.filter(member=member).count() == 5


def test_coupons_issued_and_redeemed(brand, make_user):
    from config.common.roles import Role

    member, store = MemberFactory(), StoreFactory(code="SH001")
    staff = make_user(Role.STORE_STAFF, "till")
    store.staff.add(staff)
    benefit = Benefit.objects.create(
        name="包邮券", kind=Benefit.Kind.AMOUNT_OFF, value=Decimal(10), valid_days=30
    )
    coupon = coupon_issue(member, benefit=benefit, origin="goodwill")
    coupon_redeem(code=coupon.code, store=store, user=staff)
    (issued,) = bodies("coupon.issued")
    (redeemed,) = bodies("coupon.redeemed")
    assert issued["data"]["coupon_id"] == redeemed["data"]["coupon_id"] == coupon.pk
    assert issued["data"]["benefit"] == "包邮券"
    assert redeemed["data"]["store"] == "SH001"
    assert coupon.code not in json.dumps([issued, redeemed])  # a bearer credential stays home


def test_the_jobs_emit_once_per_lot_batch_and_a_rerun_emits_nothing(brand):
    member = MemberFactory()
    t0 = timezone.now()
    for i, amount in enumerate((100, 40)):
        points_earn(member=member, point_type="points", amount=amount, source="purchase", source_ref=f"o{i}",
                    idempotency_key=f"o{i}", at=t0, available_at=t0 + datetime.timedelta(days=7))  # fmt: skip
    expires = Lot.objects.filter(account__member=member).values_list("expires_at", flat=True).distinct().get()
    lots_activate_due(now=t0 + datetime.timedelta(days=8))
    lots_activate_due(now=t0 + datetime.timedelta(days=8))
    activated = [b["data"] for b in bodies("points.changed") if b["data"]["kind"] == "activate"]
    assert activated == [
        {
            "point_type": "points",
            "kind": "activate",
            "change": 0,
            "available": 140,
            "pending": 0,
            "activated": 140,
        }
    ]

    ten_days_before = expires - datetime.timedelta(days=10)
    assert expiring_announce(now=ten_days_before) == 1  # both lots: one expiry day
    assert expiring_announce(now=ten_days_before + datetime.timedelta(days=1)) == 0
    (expiring,) = bodies("points.expiring")
    assert expiring["data"]["points"] == 140
    assert expiring["data"]["expires_on"] == timezone.localdate(expires).isoformat()  # the day they are gone
    assert timezone.localtime(expires).time() == datetime.time(0)  # (valid through the day before)

    lots_expire_due(now=expires)
    lots_expire_due(now=expires + datetime.timedelta(days=1))
    expired = [b["data"] for b in bodies("points.changed") if b["data"]["kind"] == "expire"]
    assert expired == [
        {"point_type": "points", "kind": "expire", "change": -140, "available": 0, "pending": 0}
    ]


def test_a_rolled_back_fact_emits_nothing(brand):
    member = MemberFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        points_earn(member=member, point_type="points", amount=5, source="purchase", source_ref="x",
                    idempotency_key="x")  # fmt: skip
        raise RuntimeError
    assert not WebhookEvent.objects.filter(event_type=EventType.POINTS_CHANGED).exists()


def test_a_third_party_partner_gets_the_enrolment_of_the_member_it_enrols(brand):
    mall = make_partner("mall")
    subscribe(mall, PUBLIC, [EventType.MEMBER_CREATED])
    member, created = partner_member_upsert(
        partner=mall, keys=[IdentityKey("phone", "13912345678")], profile={"name": "新会员"}, consents={}
    )
    assert created
    rows = WebhookEvent.objects.filter(event_type="member.created").values_list("partner__code", "sequence")
    assert sorted(rows) == [("brand", 1), ("mall", 1)]  # once each: the brand's was not repeated
    assert bodies("member.created")[0]["member"] == member.member_number
