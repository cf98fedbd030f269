"""The programme a scale seed runs in: stores, the tier ladder and policy, benefits and rewards,
behaviour rules and campaigns, written through the ORM (a few hundred rows) before the bulk
phases, and read back as plain values (``Programme``) for the generators.

The ladder, benefits, entitlements and rewards are the demo's own (``tiers.demo``,
``benefits.demo``), so a scale database reads like the demo one, only bigger.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from benefits.demo import ensure_benefits, ensure_entitlements, ensure_rewards
from benefits.models import Benefit, Entitlement, Reward
from campaigns.models import BehaviourRule, Campaign
from members.models import Channel, Store
from members.purchases.models import EventType
from points.models import PointType
from tiers.demo import ensure_ladder
from tiers.models import TierPolicy
from tiers.selectors import ladder

# city: province, weight (share of people and shops), districts for store names
CITIES: dict[str, tuple[str, int, tuple[str, ...]]] = {
    "上海": ("上海市", 14, ("徐汇", "静安", "浦东", "长宁", "杨浦", "闵行", "黄浦")),
    "北京": ("北京市", 12, ("朝阳", "海淀", "西城", "东城", "丰台", "通州")),
    "广州": ("广东省", 8, ("天河", "越秀", "海珠", "番禺")),
    "深圳": ("广东省", 9, ("南山", "福田", "罗湖", "宝安")),
    "杭州": ("浙江省", 7, ("西湖", "滨江", "拱墅", "余杭")),
    "成都": ("四川省", 7, ("春熙路", "高新", "武侯", "锦江")),
    "南京": ("江苏省", 5, ("新街口", "鼓楼", "江宁")),
    "武汉": ("湖北省", 5, ("光谷", "江汉", "武昌")),
    "苏州": ("江苏省", 5, ("观前", "园区", "吴中")),
    "重庆": ("重庆市", 6, ("解放碑", "江北", "沙坪坝")),
    "西安": ("陕西省", 4, ("小寨", "曲江", "高新")),
    "天津": ("天津市", 4, ("和平", "南开", "河西")),
    "长沙": ("湖南省", 3, ("五一广场", "岳麓")),
    "郑州": ("河南省", 3, ("二七", "金水")),
    "青岛": ("山东省", 2, ("市南", "崂山")),
    "厦门": ("福建省", 2, ("思明", "湖里")),
}
# the online shops: (channel, name, purchase source)
ONLINE = [
    (Channel.TMALL, "天猫官方旗舰店", "tmall"),
    (Channel.JD, "京东自营旗舰店", "jd"),
    (Channel.DOUYIN, "抖音官方小店", "douyin"),
    (Channel.WECHAT_MINIPROGRAM, "微信小程序商城", "wechat-mall"),
]
STORE_CODE = "S{:04d}"
BEHAVIOUR = [  # event type, points, cap, period (as the campaigns demo sets them)
    ("daily_sign_in", 5, 1, BehaviourRule.Period.DAY),
    ("review", 20, 3, BehaviourRule.Period.MONTH),
    ("profile_completed", 100, 1, BehaviourRule.Period.EVER),
]


@dataclass(frozen=True)
class StoreInfo:
    id: int
    code: str
    city: str
    province: str
    channel: str  # "store" for shops, the platform's channel for an online store
    source: str  # the purchase source its sales come from
    weight: int


@dataclass(frozen=True)
class TierInfo:
    id: int
    rank: int
    code: str
    name: str
    threshold: int
    multiplier: Decimal


@dataclass(frozen=True)
class EntitlementInfo:
    id: int
    benefit_id: int
    quantity: int
    period: str
    valid_days: int


@dataclass(frozen=True)
class RewardInfo:
    id: int
    name: str
    kind: str
    price: int
    stock: int | None
    limit: int | None
    min_rank: int
    benefit_id: int | None
    valid_days: int
    weight: int


@dataclass(frozen=True)
class Offer:
    """A purchase or upgrade campaign as the generators apply it (the engine's rules, narrowed
    to what these campaigns use)."""

    id: int
    name: str
    trigger: str
    starts: int  # epoch seconds, [starts, ends)
    ends: int
    priority: int
    holdout: int
    multiplier: Decimal | None = None
    bonus: int = 0
    birthday_month: bool = False
    first_purchase_days: int | None = None
    benefit_id: int | None = None
    benefit_days: int = 30


@dataclass
class Programme:
    points_type: int
    growth_type: int
    pending_days: int  # the same return window for both types (checked)
    expiry_years: int  # 积分: calendar clear-out N years after the earning year
    cny_value: Decimal
    grace_days: int
    stores: list[StoreInfo]
    tiers: list[TierInfo]
    entitlements: dict[int, list[EntitlementInfo]]  # tier id -> its coupon entitlements
    rewards: list[RewardInfo]
    offers: list[Offer]  # purchase campaigns, highest priority first
    upgrade: Offer | None
    events: dict[str, tuple[int, str, int, int | None, str]]  # code -> (type id, name, points, cap, period)
    benefit_names: dict[int, str] = field(default_factory=dict)


def _stores(count: int) -> list[Store]:
    shops = max(1, count - len(ONLINE))
    slots = [
        (city, d) for d in range(7) for city, (_p, _w, districts) in CITIES.items() if d < len(districts)
    ]
    made = []
    for n in range(shops):  # one shop per district, then second shops ("二店"), and so on
        city, d = slots[n % len(slots)]
        kind = Store.Kind.FRANCHISE if n % 5 == 4 else Store.Kind.OWN
        nth = "" if n < len(slots) else "一二三四五六七八九"[min(n // len(slots), 8)]
        made.append((STORE_CODE.format(n), f"{city}{CITIES[city][2][d]}{nth}店", city, kind))
    for n, (_channel, name, _source) in enumerate(ONLINE, start=len(made)):
        made.append((STORE_CODE.format(n), name, "", Store.Kind.PARTNER))
    stores = []
    for code, name, city, kind in made:
        stores.append(
            Store.objects.get_or_create(code=code, defaults={"name": name, "city": city, "kind": kind})[0]
        )
    return stores


def _store_infos(stores: list[Store]) -> list[StoreInfo]:
    online = {name: (channel, source) for channel, name, source in ONLINE}
    infos = []
    for store in stores:
        channel, source = online.get(store.name, (Channel.STORE, "pos"))
        province, weight = CITIES[store.city][:2] if store.city in CITIES else ("", 0)
        infos.append(StoreInfo(store.pk, store.code, store.city, province, channel, source, weight))
    return infos


def _campaign(code: str, defaults: dict) -> Campaign:
    return Campaign.objects.get_or_create(code=code, defaults=defaults)[0]


def _windows(start: datetime.datetime, now: datetime.datetime, month: int, first: int, last: int):
    """(year, starts, ends) of a yearly sales festival inside [start, now)."""
    for year in range(start.year, now.year + 1):
        begins = datetime.datetime(year, month, first, tzinfo=start.tzinfo)
        ends = datetime.datetime(year, month, last, tzinfo=start.tzinfo) + datetime.timedelta(days=1)
        if begins >= start and begins < now:
            yield year, begins, ends


def _campaigns(start: datetime.datetime, now: datetime.datetime, benefits: dict[str, Benefit]) -> list[str]:
    """Two sales festivals a year (double points, a control group), birthday-month double points,
    a first-purchase gift with a coupon and an upgrade gift: enough for campaign results to
    compare participants with their control groups."""
    status = {True: Campaign.Status.ACTIVE, False: Campaign.Status.ENDED}
    codes = ["birthday-month", "first-purchase", "upgrade-gift"]
    festivals = [("double-11", "双11双倍积分", 11, 1, 11, "2"), ("618", "618积分1.5倍", 6, 1, 18, "1.5")]
    for code, name, month, first, last, multiplier in festivals:
        for year, begins, ends in _windows(start, now, month, first, last):
            codes.append(f"{code}-{year}")
            _campaign(
                f"{code}-{year}",
                {
                    "name": f"{name} {year}",
                    "status": status[ends > now],
                    "starts_at": begins,
                    "ends_at": ends,
                    "multiplier": Decimal(multiplier),
                    "priority": 10,
                    "holdout_percent": 10,
                    "approved_at": begins - datetime.timedelta(days=3),
                },
            )
    always = {
        "status": Campaign.Status.ACTIVE,
        "starts_at": start - datetime.timedelta(days=1),
        "ends_at": now + datetime.timedelta(days=365),
        "approved_at": start - datetime.timedelta(days=2),
    }
    _campaign(
        "birthday-month",
        {"name": "生日月双倍积分", "multiplier": Decimal(2), "priority": 5, "holdout_percent": 5}
        | {"birthday": Campaign.Birthday.MONTH, **always},
    )
    _campaign(
        "first-purchase",
        {"name": "新会员首单礼", "bonus_points": 200, "first_purchase": True, "new_member_days": 30}
        | {"benefit": benefits["满100减20"], **always},
    )
    _campaign(
        "upgrade-gift",
        {"name": "升级礼", "trigger": Campaign.Trigger.TIER_UPGRADE, "bonus_points": 500, **always},
    )
    return codes


def programme_ensure(*, stores: int, start: datetime.datetime, now: datetime.datetime) -> Programme:
    """Write what is missing of the programme (nothing an operator set is changed) and read it."""
    store_rows = _stores(stores)
    tiers = ensure_ladder()
    benefits = ensure_benefits()
    ensure_entitlements(benefits, tiers)
    ensure_rewards(benefits, tiers)
    points = PointType.objects.get(code="points")
    for code, amount, cap, period in BEHAVIOUR:
        BehaviourRule.objects.get_or_create(
            event_type=EventType.objects.get(code=code),
            point_type=points,
            defaults={"amount": amount, "cap": cap, "cap_period": period},
        )
    codes = _campaigns(start, now, benefits)
    return programme_read(store_rows, codes)


def _epoch(moment: datetime.datetime) -> int:
    return int(moment.timestamp())


def programme_read(stores: list[Store], codes: list[str]) -> Programme:
    """The programme as plain values. Only the campaigns named by ``codes`` (the seeder's own)
    are applied: their conditions are the ones the generators know."""
    points, growth = PointType.objects.get(code="points"), PointType.objects.get(code="growth")
    if points.expiry_policy != PointType.Expiry.CALENDAR or growth.expiry_policy != PointType.Expiry.NEVER:
        raise ValueError("seed_scale models 积分 with a calendar clear-out and 成长值 that never expires.")
    if points.pending_days != growth.pending_days:
        raise ValueError("seed_scale models one return window for 积分 and 成长值.")
    policy = TierPolicy.current()
    if policy.window != TierPolicy.Window.CALENDAR or policy.metric != TierPolicy.Metric.GROWTH:
        raise ValueError("seed_scale models the calendar-year growth policy of the demo ladder.")
    tiers = [TierInfo(t.pk, t.rank, t.code, t.name, t.threshold, t.earn_multiplier) for t in ladder()]
    entitlements: dict[int, list[EntitlementInfo]] = {tier.id: [] for tier in tiers}
    for e in Entitlement.objects.filter(active=True, tier__isnull=False, benefit__active=True).select_related(
        "benefit"
    ):
        if e.benefit.issued and e.tier_id is not None:
            entitlements[e.tier_id].append(
                EntitlementInfo(e.pk, e.benefit_id, e.quantity, e.period, e.benefit.valid_days)
            )
    from benefits.demo import REWARDS

    rewards = [
        RewardInfo(
            r.pk,
            r.name,
            r.kind,
            r.points_price,
            r.stock,
            r.per_member_limit,
            r.min_tier.rank if r.min_tier else 0,
            r.benefit_id,
            r.benefit.valid_days if r.benefit else 0,
            REWARDS.get(r.name, (0,) * 7)[6] or 1,
        )
        for r in Reward.objects.filter(active=True)
        .select_related("benefit", "min_tier")
        .order_by("points_price", "pk")
    ]
    offers, upgrade = [], None
    live = Campaign.objects.filter(
        code__in=codes, status__in=[Campaign.Status.ACTIVE, Campaign.Status.ENDED]
    ).select_related("benefit")
    for c in live.order_by("-priority", "pk"):
        offer = Offer(
            id=c.pk,
            name=c.name,
            trigger=c.trigger,
            starts=_epoch(c.starts_at),
            ends=_epoch(c.ends_at),
            priority=c.priority,
            holdout=c.holdout_percent,
            multiplier=c.multiplier,
            bonus=c.bonus_points,
            birthday_month=c.birthday == Campaign.Birthday.MONTH,
            first_purchase_days=c.new_member_days if c.first_purchase else None,
            benefit_id=c.benefit_id,
            benefit_days=c.benefit.valid_days if c.benefit else 30,
        )
        if c.trigger == Campaign.Trigger.TIER_UPGRADE and c.bonus_points and upgrade is None:
            upgrade = offer
        elif c.trigger == Campaign.Trigger.PURCHASE:
            offers.append(offer)
    events = {}
    for rule in BehaviourRule.objects.filter(point_type=points, active=True).select_related("event_type"):
        t = rule.event_type
        events[t.code] = (t.pk, t.name, rule.amount, rule.cap, rule.cap_period)
    return Programme(
        points_type=points.pk,
        growth_type=growth.pk,
        pending_days=points.pending_days,
        expiry_years=points.expiry_period,
        cny_value=points.cny_value,
        grace_days=policy.grace_days,
        stores=_store_infos(stores),
        tiers=tiers,
        entitlements=entitlements,
        rewards=rewards,
        offers=offers,
        upgrade=upgrade,
        events=events,
        benefit_names=dict(Benefit.objects.values_list("pk", "name")),
    )
