"""Data for the admin walks: the demo programme (every kind of object, in a dozen stores) plus
two stores of our own, A and B, each with members, purchases, points, coupons, imports and a
staff user, with values that are easy to recognise on a page."""

from __future__ import annotations

import datetime
import io
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.core.management import call_command
from django.db.models import Model
from django.test import override_settings
from django.utils import timezone, translation

from benefits.coupons import coupon_issue, coupon_redeem
from benefits.models import Benefit, Coupon, Redemption, Reward
from benefits.rewards import reward_redeem
from campaigns.earning.pipeline import purchase_process, refund_process
from campaigns.insight.campaigns import campaigns_measure
from campaigns.insight.models import InsightSettings, StoreSalesDay
from campaigns.insight.rollups import day_rollup
from campaigns.insight.snapshots import behaviour_snapshot, profiles_snapshot
from campaigns.journeys.models import Journey, JourneyEntry
from campaigns.models import Award
from campaigns.segments.models import Condition, Field, Operator, Segment, SegmentMember, TagRule
from campaigns.segments.services import segment_count, tag_rule_apply
from config.common.governance import config_change_propose
from config.common.models import ConfigChange
from config.common.roles import Role
from members.imports.models import ImportProfile, ImportRun
from members.imports.runner import import_confirm, import_run_execute
from members.imports.services import import_preview
from members.messaging.models import Message, MessagingSettings, RecordedMessage, Template
from members.messaging.services import Outgoing, message_queue, messages_send_due
from members.models import Identity, Member, Store, Tag
from members.oneid.models import DuplicateCandidate, MemberMerge
from members.oneid.services import merge_request
from members.partners.models import Partner
from members.privacy.models import AccessLog, ErasureRequest, PrivacySettings
from members.privacy.services import access_record, erasure_request
from members.purchases.baskets import Basket
from members.purchases.models import Purchase
from members.purchases.services import purchase_record, refund_record
from members.referrals.models import Referral
from members.referrals.services import referral_code_get, referral_link
from members.scoring.models import MemberScore, ScoringSettings
from members.scoring.services import members_score
from members.services import IdentityKey, member_enrol
from members.webhooks.models import EventType, WebhookEndpoint, WebhookEvent
from members.webhooks.services import endpoint_save
from points.cash.models import CashRule, Hold
from points.cash.services import hold_create, purchase_record_with_hold
from points.households.models import Household
from points.households.services import household_create, household_join, household_transfer_to_head
from points.models import Account, AdjustmentRequest, Entry, PointType, Source
from points.services import points_adjust, points_earn
from tests.factories import StoreFactory
from tiers.models import Plan, PlanOrder
from tiers.orders import plan_order_create, plan_payment_record

POS_HEADER = "门店编码,门店名称,小票号,会员卡号,手机号,交易类型,应收金额,实收金额,交易时间,原小票号,收银员"


@dataclass
class WalkData:
    store_a: Store
    store_b: Store
    staff_a: Any
    operator: Any
    administrator: Any
    #: members store A serves (registered there, or bought there)
    members_a: list[Member]
    member_b: Member
    #: objects each walk opens, by model, besides a sample of every table
    named: dict[type[Model], list[Model]] = field(default_factory=dict)


def _pos_file(rows: list[str]) -> bytes:
    return ("\n".join([POS_HEADER, *rows]) + "\n").encode("gbk")


def build(make_user) -> WalkData:
    """Made in zh-hans, as ``make run`` and the admin make it: texts stored with the data
    (reasons, rejection messages) are in the default language."""
    with translation.override("zh-hans"):
        return _build(make_user)


def _build(make_user) -> WalkData:
    with override_settings(DEBUG=True):
        call_command("seed_demo", "--members", "30", stdout=io.StringIO())
    now = timezone.now()
    # the demo partner subscribes to every event: what follows fills the delivery log
    endpoint, _secret = endpoint_save(
        endpoint=WebhookEndpoint(
            partner=Partner.objects.order_by("pk").first(),
            url="https://93.184.215.14/loyalty/hooks",
            event_types=list(EventType.values),
        )
    )
    store_a = StoreFactory(code="WA01", name="走查甲店", city="杭州")
    store_b = StoreFactory(code="WB01", name="走查乙店", city="苏州")
    staff_a = make_user(Role.STORE_STAFF, "walk_staff_a")
    staff_b = make_user(Role.STORE_STAFF, "walk_staff_b")
    store_a.staff.add(staff_a)
    store_b.staff.add(staff_b)
    operator = make_user(Role.OPERATOR, "walk_operator")
    administrator = make_user(Role.ADMINISTRATOR, "walk_admin", is_superuser=True)

    def enrol(name, mobile, email, store, card, unionid) -> Member:
        return member_enrol(
            name=name,
            mobile=mobile,
            email=email,
            registration_store=store,
            birthday=datetime.date(1990, 5, 17),
            identities=[
                IdentityKey(Identity.Kind.CARD, card),
                IdentityKey(Identity.Kind.WECHAT_UNIONID, unionid),
            ],
            actor=operator,
        )

    member_a = enrol(
        "欧阳甲", "13700000001", "ouyang.jia@example.com", store_a, "WALKA0001", "oUnionWalkA0001"
    )
    # registered online, served by store A because they bought there
    member_a2 = enrol(
        "上官丙", "13700000003", "shangguan.bing@example.com", None, "WALKA0002", "oUnionWalkA0002"
    )
    member_b = enrol("司马乙", "13600000002", "sima.yi@example.com", store_b, "WALKB0001", "oUnionWalkB0001")

    purchases, awards = [], []
    for member, store, number in [
        (member_a, store_a, "WALK-A-0001"),
        (member_a2, store_a, "WALK-A-0002"),
        (member_b, store_b, "WALK-B-0001"),
    ]:
        purchase, _created = purchase_record(
            member=member,
            source="pos",
            order_number=number,
            channel="store",
            occurred_at=now - datetime.timedelta(days=2),
            gross_amount=Decimal("388.00"),
            paid_amount=Decimal("388.00"),
            store=store,
        )
        purchases.append(purchase)
        awards.append(purchase_process(purchase))

    benefit = Benefit.objects.create(
        name="走查满减券", kind=Benefit.Kind.AMOUNT_OFF, value=Decimal(10), valid_days=30
    )
    coupons = [coupon_issue(m, benefit=benefit, origin=Coupon.Origin.MANUAL) for m in (member_a, member_b)]
    # and one used at each store's counter, within the window to undo it (the counter lists it)
    for member, store, staff, order in (
        (member_a, store_a, staff_a, "WALK-A-C1"),
        (member_b, store_b, staff_b, "WALK-B-C1"),
    ):
        used = coupon_issue(member, benefit=benefit, origin=Coupon.Origin.MANUAL)
        basket = Basket(amount=Decimal("388.00"), order_number=order)
        coupons.append(coupon_redeem(code=used.code, store=store, user=staff, basket=basket).coupon)
    gift = Reward.objects.create(name="走查帆布袋", kind=Reward.Kind.PHYSICAL, points_price=100, stock=5)
    redemptions = []
    for member in (member_a, member_b):
        points_earn(
            member=member,
            point_type="points",
            amount=500,
            source=Source.PURCHASE,
            source_ref=f"walk-gift-{member.pk}",
            idempotency_key=f"walk-gift-{member.pk}",
            at=now,
            available_at=now,
        )
        redemptions.append(
            reward_redeem(
                member=member,
                reward=gift,
                idempotency_key=f"walk-redeem-{member.pk}",
                ship_to="杭州市西湖区某路1号",
            )
        )
    adjustment = points_adjust(
        member=member_b,
        point_type=PointType.objects.get(code="points"),
        amount=5000,
        reason="走查调整",
        actor=operator,
        idempotency_key="walk-adjust-b",
    )
    assert isinstance(adjustment, AdjustmentRequest)
    # store B's member enrolled twice (OneID): merged; store A's two members found as a pair
    twin_b = enrol("司马乙", "13600000012", "", store_b, "WALKB0002", "oUnionWalkB0002")
    (merge,) = merge_request(survivor=member_b, absorbed=[twin_b], reason="走查合并", actor=operator)
    # store A's member asked to be erased (waiting for an approver); someone opened a member page
    erasure = erasure_request(member=member_a2, reason="走查：会员来电", actor=operator)
    access_record(user=operator, what=AccessLog.What.MEMBER_PAGE, member=member_b)
    PrivacySettings.current()
    pair = DuplicateCandidate.objects.create(
        first=member_a, second=member_a2, found_at=now, reasons=[{"code": "card_form", "value": "WALKA0001"}]
    )

    when = f"{timezone.localtime(now - datetime.timedelta(days=1)):%Y-%m-%d %H:%M:%S}"
    pos = ImportProfile.objects.get(code="pos_receipts_gbk")
    run_a = import_preview(
        profile=pos,
        data=_pos_file(
            [
                f"WA01,走查甲店,WALK-A-IMP-1,WALKA0001,13700000001,销售,100.00,100.00,{when},,C01",
                f"WA01,走查甲店,WALK-A-IMP-2,,18400000026,销售,50.00,50.00,{when},,C01",
                f"WA01,走查甲店,WALK-A-IMP-3,,13700000009,销售,12..50,50.00,{when},,C01",
            ]
        ),
        file_name="walk-a.csv",
        user=staff_a,
        store=store_a,
    )
    run_b = import_preview(
        profile=pos,
        data=_pos_file(
            [
                f"WB01,走查乙店,WALK-B-IMP-1,WALKB0001,13600000002,销售,100.00,100.00,{when},,C02",
                f"WB01,走查乙店,WALK-B-IMP-2,,13600000077,销售,12..50,50.00,{when},,C02",
            ]
        ),
        file_name="walk-b.csv",
        user=staff_b,
        store=store_b,
    )
    # Store B's member's points moved in from an old CRM by an operator (one row refused).
    until = f"{timezone.localdate() + datetime.timedelta(days=200):%Y-%m-%d}"
    number = member_b.member_number
    moved = import_preview(
        profile=ImportProfile.objects.get(code="migration_balances"),
        data=f"会员号,积分,到期日期\r\n{number},500,{until}\r\n{number},-5,{until}\r\n".encode("gb18030"),
        file_name="walk-migration.csv",
        user=operator,
    )
    import_confirm(run=moved, user=operator, start=False)
    import_run_execute(moved.pk)

    # Households: store A's two members (one gave the head points), store B's member alone.
    home_a = household_create(
        name="走查甲家", head=member_a, pool_spenders=Household.Spenders.ALL, actor=operator
    )
    household_join(household=home_a, member=member_a2)
    points_earn(
        member=member_a2, point_type="points", amount=100, source=Source.PURCHASE,
        source_ref="walk-home-a", idempotency_key="walk-home-a", at=now, available_at=now,
    )  # fmt: skip
    household_transfer_to_head(member=member_a2, points=40, idempotency_key="walk-home-gift")
    home_b = household_create(name="走查乙家", head=member_b, actor=operator)

    # Store B's member bought PLUS through the API (an order, the payment system's notice); another
    # order waits for its payment.
    plus = Plan.objects.get(code="plus")
    partner = Partner.objects.order_by("pk").first()
    paid = plan_order_create(partner=partner, member=member_b, plan=plus)
    plan_payment_record(
        order_number=paid.order_number, payment_ref="WALK-PAY-B", amount=plus.price, paid_at=now
    )
    waiting = plan_order_create(partner=partner, member=member_b, plan=plus)
    # Points as cash: store A's member paid part of a purchase with points and returned half of it;
    # store B's member has a hold waiting at store B's till.
    CashRule.objects.filter(point_type__code="points").update(active=True)
    cash_hold = hold_create(
        member=member_a, points=100, basket=Basket(Decimal("88.00"), channel="store", store_id=store_a.pk),
        idempotency_key="walk-hold-a", actor=operator,
    )  # fmt: skip
    paid_a, _created = purchase_record_with_hold(
        hold=cash_hold, member=member_a, source="pos", order_number="WALK-A-CASH", channel="store",
        occurred_at=now - datetime.timedelta(hours=1), gross_amount=Decimal("88.00"),
        paid_amount=Decimal("88.00"), store=store_a,
    )  # fmt: skip
    purchase_process(paid_a)
    returned, _created = refund_record(
        purchase=paid_a, source="pos", refund_number="WALK-A-CASH-R", amount=Decimal("44.00"), occurred_at=now
    )
    refund_process(returned)
    hold_b = hold_create(
        member=member_b, points=100, basket=Basket(Decimal("88.00"), channel="store", store_id=store_b.pk),
        idempotency_key="walk-hold-b", actor=operator,
    )  # fmt: skip

    # The insight figures: the night's jobs, and each store's sales for all customers.
    for store, sales in ((store_a, "3880.00"), (store_b, "2880.00")):
        StoreSalesDay.objects.create(store=store, day=now.date(), orders=10, sales=Decimal(sales))
    InsightSettings.current()
    ScoringSettings.current()
    members_score()
    for day in (timezone.localdate(now) - datetime.timedelta(days=2), timezone.localdate(now)):
        day_rollup(day)
    profiles_snapshot()
    behaviour_snapshot()
    campaigns_measure()

    # A segment of store B's members, and a list with store A's.
    of_b = Segment.objects.create(name="门店B会员", created_by=operator)
    Condition.objects.create(segment=of_b, field=Field.STORE, operator=Operator.IS, store=store_b)
    listed = Segment.objects.create(name="门店A名单", kind=Segment.Kind.STATIC, created_by=operator)
    SegmentMember.objects.create(segment=listed, member=member_a)
    for segment in (of_b, listed):
        segment_count(segment)
    tag_rule = TagRule.objects.create(tag=Tag.objects.create(name="门店B"), segment=of_b, created_by=operator)
    tag_rule_apply(tag_rule)

    # A template, and a message to store B's member: sent (recorded) and one not sent.
    template = Template.objects.create(code="walk-hi", name="欢迎", channel="sms", body="{name}，欢迎入会")
    for key, kind in (("walk-1", "service"), ("walk-2", "marketing")):
        message_queue(
            Outgoing(member=member_b, channel="sms", body="欢迎入会", key=key, kind=kind, template=template)
        )
    messages_send_due()
    MessagingSettings.current()
    # Store B's member walked the shipped welcome journey.
    welcome = Journey.objects.get(code="welcome")
    JourneyEntry.objects.create(
        journey=welcome, member=member_b, status=JourneyEntry.Status.COMPLETED, position=4,
        entered_at=timezone.now(), due_at=timezone.now(), finished_at=timezone.now(),
    )  # fmt: skip

    # Store A's member referred A's second member, who enrolled on a device of its own.
    referral = referral_link(
        member_a2, referral_code_get(member_a), device_id="walk-device-2", actor=operator
    )

    # A change to the programme waiting for an approver.
    threshold = PointType.objects.get(code="points")
    threshold.approval_threshold = 5000
    config_change = config_change_propose(instance=threshold, fields=["approval_threshold"], actor=operator)

    # Every versioned model gets a version to show (rows from migrations and bulk inserts have none).
    for model in admin.site._registry:
        history = getattr(model, "history", None)
        if history is not None and not history.exists() and (obj := model._default_manager.first()):
            obj.save()

    members = [member_a, member_a2, member_b]
    named: dict[type[Model], list[Model]] = {
        Store: [store_a, store_b],
        Member: members,
        Purchase: purchases,
        Award: awards,
        Account: list(Account.objects.filter(member__in=members).order_by("pk")),
        Entry: list(Entry.objects.filter(account__member__in=members).order_by("pk")[:6]),
        Coupon: coupons,
        Redemption: redemptions,
        AdjustmentRequest: [adjustment],
        ConfigChange: [config_change],
        MemberMerge: [merge],
        Household: [home_a, home_b],
        PlanOrder: [paid, waiting],
        Hold: [cash_hold, hold_b],
        CashRule: list(CashRule.objects.all()),
        DuplicateCandidate: [pair],
        ErasureRequest: [erasure],
        Referral: [referral],
        AccessLog: list(AccessLog.objects.all()),
        ImportRun: [run_a, run_b, moved],
        MemberScore: list(MemberScore.objects.filter(member__in=members).order_by("pk")),
        Segment: [of_b, listed],
        TagRule: [tag_rule],
        Message: list(Message.objects.order_by("pk")),
        RecordedMessage: list(RecordedMessage.objects.order_by("pk")),
        Template: [template],
        WebhookEndpoint: [endpoint],
        WebhookEvent: list(WebhookEvent.objects.filter(member__in=members).order_by("pk")[:4]),
    }
    return WalkData(
        store_a=store_a,
        store_b=store_b,
        staff_a=staff_a,
        operator=operator,
        administrator=administrator,
        members_a=[member_a, member_a2],
        member_b=member_b,
        named=named,
    )
