"""A month of a programme with planted bonus hunting among ordinary members, for checking the
risk rules (the tests, ``manage.py plant_fraud`` for larger months).

Everything goes through the services the partner API and the imports use (enrolment with a
device, registration event, purchases, refunds, reward redemptions, transfers), dated in the
past month, so the nightly scan and the simulation read it as they would read real data. The
programme gives a welcome bonus and its points are spendable at once (no return window): the
setting in which these frauds pay.

Planted (each with the starter rule meant to catch it, ``campaigns.risk.starter``):

- a farm of 200 members on virtual-operator numbers, enrolled from 3 devices in bursts, each
  collecting the welcome bonus (enrolment burst per device; virtual-phone numbers);
- members who buy, spend the points on a reward, then return the purchase, three times each;
- a ring of four members passing points round, and eight members feeding one collector;
- two employees of one store buying at their own till again and again;
- new members emptying a scarce reward within an hour;
- a third-party partner's script trying 200 made-up coupon codes in an hour, and a clerk's
  account trying 40 at the counter (while every store's clerks mistype a code now and then).
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from benefits.coupons import coupon_miss_record
from benefits.models import Reward
from benefits.rewards import reward_redeem
from benefits.selectors import partner_coupon
from campaigns.earning.facts import event_record_and_earn, purchase_record_and_earn, refund_record_and_earn
from campaigns.models import BehaviourRule
from campaigns.selectors import rule_book
from members.models import Channel, Identity, Member, Store
from members.partners.models import Partner, PartnerKind
from members.partners.services import partner_create, partner_member_upsert
from members.purchases.models import EventType, Purchase
from members.services import IdentityKey
from points.models import Account, PointType
from points.services import points_transfer

WELCOME_BONUS = 100
VIRTUAL = ["170", "171", "162", "165", "167"]
ORDINARY = ["134", "135", "136", "137", "138", "139", "150", "151", "158", "186", "187", "188"]


@dataclass
class Month:
    """Who is who in the generated month."""

    start: datetime.date
    days: int
    ordinary: list[int] = field(default_factory=list)
    planted: dict[str, list[int]] = field(default_factory=dict)
    #: who guessed coupon codes, as their cases name them; who only mistyped a few
    guessers: list[str] = field(default_factory=list)
    typists: list[str] = field(default_factory=list)


class Maker:
    def __init__(self, rng: random.Random, start: datetime.date, partner: Partner) -> None:
        self.rng, self.start, self.partner = rng, start, partner
        self.book = rule_book()  # the programme's rules, loaded once for the month
        self.numbers: set[str] = set()
        self.seq = 0

    def at(self, day: int, hour: float) -> datetime.datetime:
        moment = datetime.datetime.combine(self.start + datetime.timedelta(days=day), datetime.time())
        return timezone.make_aware(moment) + datetime.timedelta(hours=hour)

    def mobile(self, prefixes: list[str]) -> str:
        while True:
            number = self.rng.choice(prefixes) + f"{self.rng.randrange(10**8):08d}"
            if number not in self.numbers:
                self.numbers.add(number)
                return number

    def enrol(
        self, at: datetime.datetime, prefixes: list[str], device: str, store: Store | None = None
    ) -> Member:
        member, _created = partner_member_upsert(
            partner=self.partner,
            keys=[IdentityKey(Identity.Kind.PHONE, self.mobile(prefixes))],
            profile={
                "registration_channel": Channel.STORE if store else Channel.WECHAT_MINIPROGRAM,
                "registration_store": store,
            },
            consents={},
            device_id=device,
        )
        Member.objects.filter(pk=member.pk).update(created_at=at)
        member.created_at = at
        event_record_and_earn(
            member=member,
            event_type="registration",
            key=member.member_number,
            occurred_at=at,
            channel=Channel.WECHAT_MINIPROGRAM,
            now=at,
            at=at,
            book=self.book,
        )
        return member

    def buy(self, member: Member, store: Store, at: datetime.datetime, amount: Decimal) -> Purchase:
        self.seq += 1
        return purchase_record_and_earn(
            member=member,
            source="pos",
            order_number=f"M{self.seq:07d}",
            channel=Channel.STORE,
            store=store,
            occurred_at=at,
            gross_amount=amount,
            paid_amount=amount,
            now=at,
            at=at,
            book=self.book,
        ).fact

    def refund(self, purchase: Purchase, amount: Decimal, at: datetime.datetime) -> None:
        refund_record_and_earn(
            purchase=purchase,
            source="pos",
            refund_number=f"R{purchase.order_number}",
            amount=amount,
            occurred_at=at,
            now=at,
            at=at,
            book=self.book,
        )

    def redeem(self, member: Member, reward: Reward, key: str, at: datetime.datetime) -> None:
        reward_redeem(member=member, reward=reward, idempotency_key=key, ship_to="门店自提", at=at)

    def look_up(
        self,
        at: datetime.datetime,
        *,
        partner: Partner | None = None,
        store: Store | None = None,
        user: User | None = None,
    ) -> None:
        """A made-up coupon code looked up, as the partner API or the counter does: not found."""
        code = "".join(self.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(12))
        if partner is None or partner_coupon(partner, code) is None:
            coupon_miss_record(code, partner=partner, store=store, user=user, at=at)


def generate_month(*, ordinary: int = 150, seed: int = 21, start: datetime.date | None = None) -> Month:
    """Generate the month (default: the 30 days before today) and return who is who."""
    rng = random.Random(seed)
    start = start or timezone.localdate() - datetime.timedelta(days=30)
    month = Month(start=start, days=30)
    _programme()
    partner = Partner.objects.filter(code="planted").first() or partner_create(
        code="planted", name="小程序", kind=PartnerKind.FIRST_PARTY, channels=[Channel.WECHAT_MINIPROGRAM]
    )
    stores = [
        Store.objects.get_or_create(code=f"PL{i:02d}", defaults={"name": f"门店{i:02d}"})[0] for i in range(6)
    ]
    gift = Reward.objects.create(name="保温杯", kind=Reward.Kind.PHYSICAL, points_price=300, stock=None)
    scarce = Reward.objects.create(
        name="限量联名款", kind=Reward.Kind.PHYSICAL, points_price=WELCOME_BONUS, stock=40
    )
    make = Maker(rng, start, partner)

    for n in range(ordinary):
        with transaction.atomic():
            month.ordinary.append(_ordinary(make, n, stores, gift).pk)

    farm = []
    for n in range(200):  # 3 devices, about 17 an hour each, two evenings
        at = make.at(3 + n // 100, 20 + (n % 100) / 50)
        farm.append(make.enrol(at, VIRTUAL, device=f"farm-device-{n % 3}").pk)
    month.planted["farm"] = farm

    cyclers = []
    for n in range(4):
        member = make.enrol(make.at(1, 9 + n), ORDINARY, device=f"cycler-{n}")
        for cycle in range(3):
            day = 5 + cycle * 7 + n
            purchase = make.buy(member, stores[0], make.at(day, 10), Decimal("1000.00"))
            make.redeem(member, gift, f"cycle-{member.pk}-{cycle}", make.at(day, 10.5))
            make.refund(purchase, Decimal("1000.00"), make.at(day + 1, 11))
        cyclers.append(member.pk)
    month.planted["refund_after_redeem"] = cyclers

    ring = [make.enrol(make.at(2, 8 + n / 10), ORDINARY, device=f"ring-{n}") for n in range(4)]
    for n, member in enumerate(ring):
        make.buy(member, stores[1], make.at(6, 9 + n), Decimal("200.00"))
    for n, member in enumerate(ring):
        points_transfer(
            from_member=member,
            to_member=ring[(n + 1) % 4],
            point_type="points",
            amount=150,
            idempotency_key=f"ring-{n}",
            at=make.at(10, 12 + n / 10),
        )
    collector = make.enrol(make.at(2, 15), ORDINARY, device="collector")
    feeders = [make.enrol(make.at(2, 16 + n / 10), ORDINARY, device=f"feeder-{n}") for n in range(8)]
    for n, member in enumerate(feeders):
        points_transfer(
            from_member=member,
            to_member=collector,
            point_type="points",
            amount=WELCOME_BONUS,
            idempotency_key=f"fan-{n}",
            at=make.at(12, 20 + n / 10),
        )
    month.planted["transfer_ring"] = sorted(m.pk for m in [*ring, collector, *feeders])

    staff_store = stores[2]
    staff = []
    for n in range(2):
        member = make.enrol(make.at(0, 9 + n), ORDINARY, device=f"staff-{n}", store=staff_store)
        Identity.objects.create(
            member=member, kind=Identity.Kind.EMPLOYEE, namespace=staff_store.code, value=f"E{n:04d}"
        )
        for k in range(12):
            make.buy(member, staff_store, make.at(1 + k * 2, 19.5), Decimal(rng.randrange(30, 90)))
        staff.append(member.pk)
    month.planted["staff_self_dealing"] = staff

    burst = []
    for n in range(15):
        member = make.enrol(make.at(16, 9 + n / 20), ORDINARY, device=f"burst-{n}")
        make.redeem(member, scarce, f"burst-{n}", make.at(17, 10 + n / 40))
        burst.append(member.pk)
    month.planted["scarce_reward_burst"] = burst

    _guessing(make, month, stores)
    return month


def _guessing(make: Maker, month: Month, stores: list[Store]) -> None:
    """A partner's script and one clerk guessing coupon codes; every store's clerk mistyping a
    code or two on some days."""
    script = Partner.objects.filter(code="guesser").first() or partner_create(
        code="guesser", name="某第三方", kind=PartnerKind.THIRD_PARTY, channels=[Channel.WECHAT_MINIPROGRAM]
    )
    for n in range(200):
        make.look_up(make.at(20, 2 + n / 220), partner=script)
    clerks = [User.objects.get_or_create(username=f"clerk-{store.code}")[0] for store in stores]
    for n in range(40):
        make.look_up(make.at(22, 15 + n / 50), store=stores[3], user=clerks[3])
    month.guessers = [f"{script.code} {script.name}", clerks[3].username]
    for day in range(month.days):
        for store, clerk in zip(stores, clerks, strict=True):
            for _typo in range(make.rng.choice([0, 0, 1, 2])):
                make.look_up(make.at(day, 9 + make.rng.uniform(0, 12)), store=store, user=clerk)
    month.typists = [clerk.username for clerk in clerks if clerk != clerks[3]]


def _programme() -> None:
    """A welcome bonus, and points spendable at once."""
    PointType.objects.filter(code="points").update(pending_days=0)
    registration = EventType.objects.get(code="registration")
    BehaviourRule.objects.get_or_create(
        event_type=registration,
        point_type=PointType.objects.get(code="points"),
        defaults={"amount": WELCOME_BONUS, "cap": 1, "cap_period": BehaviourRule.Period.EVER},
    )


def _ordinary(make: Maker, n: int, stores: list[Store], gift: Reward) -> Member:
    """An ordinary member: one to four purchases, sometimes a reward, a return or a gift of points
    to a family member; families share a phone to enrol on (a device each two members)."""
    rng = make.rng
    joined = rng.uniform(0, 25)
    member = make.enrol(make.at(int(joined), 8 + rng.uniform(0, 13)), ORDINARY, device=f"phone-{n // 2}")
    orders = []
    for k in range(rng.randint(1, 4)):
        day = min(29, int(joined) + 1 + k * rng.randint(1, 4))
        amount = Decimal(rng.randrange(2000, 60000)) / 100
        at = make.at(day, 9 + rng.uniform(0, 12))
        orders.append((make.buy(member, rng.choice(stores), at, amount), amount, day))
    if rng.random() < 0.08:
        purchase, amount, day = rng.choice(orders)
        make.refund(purchase, amount, make.at(min(29, day + 2), 15))
    if rng.random() < 0.15 and _available(member) >= gift.points_price:
        make.redeem(member, gift, f"gift-{member.pk}", make.at(29, 18))
    if rng.random() < 0.03:  # a gift of points to someone in the family
        family = Member.objects.filter(devices__device_id=f"phone-{n // 2}").exclude(pk=member.pk).first()
        if family is not None:
            points_transfer(
                from_member=member,
                to_member=family,
                point_type="points",
                amount=50,
                idempotency_key=f"family-{member.pk}",
                at=make.at(29, 20),
            )
    return member


def _available(member: Member) -> int:
    account = Account.objects.filter(member=member, point_type__code="points").first()
    return account.available if account else 0
