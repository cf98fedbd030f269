"""Demo benefits (``BenefitsConfig.demo_seed``): the benefits, what each tier and the PLUS plan
are entitled to, the rewards catalogue, this month's coupons (``entitlements_issue``), a few
rewards bought with points (one gift shipped, one delivered) and coupons redeemed (核销) at a
store by the demo store login, all through the benefits services.
"""

from __future__ import annotations

import datetime
import random
from decimal import Decimal

from benefits.coupons import coupon_redeem, entitlements_issue
from benefits.errors import BenefitError
from benefits.models import Benefit, Coupon, Entitlement, Redemption, Reward
from benefits.rewards import redemption_advance, reward_redeem
from members.demo import DemoRun
from members.models import Member
from members.purchases.baskets import Basket
from members.selectors import stores_of
from points.errors import InsufficientPoints
from points.models import Account
from tiers.models import MemberTier, Plan, Tier
from tiers.selectors import ladder

Kind, Period = Benefit.Kind, Entitlement.Period
CASH_VOUCHER = "10元抵用券"
# name: kind, value, minimum spend, valid days, conditions
BENEFITS = {
    "满100减20": (Kind.AMOUNT_OFF, 20, 100, 30, "单笔消费满 100 元可用，不与其他优惠同享"),
    "9折券": (Kind.PERCENT_OFF, 10, 0, 30, "正价商品可用"),
    "包邮券": (Kind.FREE_SHIPPING, 0, 0, 30, "线上商城订单免运费"),
    "生日礼": (Kind.GIFT, 0, 0, 30, "生日当月凭券到店领取生日礼"),
    "专属客服": (Kind.SERVICE, 0, 0, 30, "专属客服热线优先接听"),
    "线下品鉴会邀请": (Kind.INVITATION, 0, 0, 60, "凭券参加门店新品品鉴会，限本人"),
    CASH_VOUCHER: (Kind.AMOUNT_OFF, 10, 0, 90, "无门槛抵扣 10 元"),
}
# tier code ("entry" = the rank 0 tier) or ("plan", code); benefit; quantity; period
ENTITLEMENTS: list[tuple[str | tuple[str, str], str, int, str]] = [
    ("silver", "包邮券", 1, Period.MONTHLY),
    ("gold", "包邮券", 2, Period.MONTHLY),
    ("gold", "满100减20", 1, Period.MONTHLY),
    ("diamond", "包邮券", 4, Period.MONTHLY),
    ("diamond", "专属客服", 1, Period.MONTHLY),
    ("diamond", "线下品鉴会邀请", 1, Period.YEARLY),
    *((tier, "生日礼", 1, Period.BIRTHDAY) for tier in ("entry", "silver", "gold", "diamond")),
    (("plan", "plus"), "9折券", 1, Period.MONTHLY),
]
# name: kind, points, stock, limit per member, tier required, benefit issued, how often bought
REWARDS = {
    "满100减20优惠券": (Reward.Kind.COUPON, 2_000, 500, 5, None, "满100减20", 3),
    "品牌帆布袋": (Reward.Kind.PHYSICAL, 3_000, 100, 1, None, None, 2),
    CASH_VOUCHER: (Reward.Kind.CASH, 1_000, None, None, None, CASH_VOUCHER, 4),
    "限量保温杯": (Reward.Kind.PHYSICAL, 8_000, 20, None, "gold", None, 1),
}
REDEEMERS, MAX_REDEEMERS = 0.1, 40  # of the members who can afford the cheapest reward; at least 3
STORE_COUPONS = ["满100减20", "生日礼", "9折券"]  # redeemed (核销) at the store, one of each
DEMO_BASKET = Basket(amount=Decimal("168.00"), order_number="DEMO-0001")  # what those were used on


def seed(run: DemoRun) -> str:
    rng = run.rng("benefits")
    tiers = {"entry": ladder()[0], **{t.code: t for t in Tier.objects.all()}}
    benefits = ensure_benefits()
    ensure_entitlements(benefits, tiers)
    rewards = ensure_rewards(benefits, tiers)
    issued = entitlements_issue(at=run.now)
    redemptions = _redeem_rewards(run, rng, rewards)
    shipped = _fulfil(run, redemptions)
    used = _redeem_at_store(run, rng)
    return (
        f"{len(benefits)} benefits, {len(rewards)} rewards, {issued:,} coupons issued, "
        f"{len(redemptions)} rewards redeemed ({shipped} gifts sent), {used} coupons used in store"
    )


def ensure_benefits() -> dict[str, Benefit]:
    benefits = {}
    for name, (kind, value, min_spend, days, conditions) in BENEFITS.items():
        defaults = {
            "value": Decimal(value),
            "min_spend": Decimal(min_spend),
            "valid_days": days,
            "conditions": conditions,
        }
        benefits[name] = Benefit.objects.get_or_create(name=name, kind=kind, defaults=defaults)[0]
    return benefits


def ensure_entitlements(benefits: dict[str, Benefit], tiers: dict[str, Tier]) -> None:
    """The entitlements above; those of a tier or plan that does not exist are left out."""
    for holder, benefit, quantity, period in ENTITLEMENTS:
        if isinstance(holder, tuple):
            plan = Plan.objects.filter(code=holder[1]).first()
            grant: dict[str, Tier | Plan | None] = {"plan": plan, "tier": None}
        else:
            plan, grant = None, {"tier": tiers.get(holder), "plan": None}
        if grant["tier"] is None and plan is None:
            continue
        Entitlement.objects.get_or_create(
            benefit=benefits[benefit], period=period, **grant, defaults={"quantity": quantity}
        )


def ensure_rewards(benefits: dict[str, Benefit], tiers: dict[str, Tier]) -> dict[str, Reward]:
    rewards = {}
    for name, (kind, price, stock, limit, tier, benefit, _weight) in REWARDS.items():
        if tier is not None and tier not in tiers:
            continue
        defaults = {
            "kind": kind,
            "points_price": price,
            "stock": stock,
            "per_member_limit": limit,
            "min_tier": tiers.get(tier) if tier else None,
            "benefit": benefits[benefit] if benefit else None,
        }
        rewards[name] = Reward.objects.get_or_create(name=name, defaults=defaults)[0]
    return rewards


def _redeem_rewards(run: DemoRun, rng: random.Random, rewards: dict[str, Reward]) -> list[Redemption]:
    """Some members who can afford it buy a reward; the richest 金卡+ member buys the 保温杯."""
    if not rewards:
        return []
    cheapest = min(reward.points_price for reward in rewards.values())
    balances = dict(
        Account.objects.filter(
            point_type__code="points",
            member__in=run.members.filter(status=Member.Status.ACTIVE).values("pk"),
            available__gte=cheapest,
        )
        .order_by("member_id")
        .values_list("member_id", "available")
    )
    wanted = max(3, min(MAX_REDEEMERS, round(len(balances) * REDEEMERS)))
    buyers = sorted(rng.sample(sorted(balances), min(wanted, len(balances))))
    orders: list[tuple[int, Reward]] = []
    if "限量保温杯" in rewards:
        cup = rewards["限量保温杯"]
        ranks = dict(MemberTier.objects.filter(member_id__in=balances).values_list("member_id", "tier__rank"))
        able = [m for m, points in balances.items() if points >= cup.points_price]
        able = [m for m in able if ranks.get(m, 0) >= (cup.min_tier.rank if cup.min_tier else 0)]
        if able:
            orders.append((max(able, key=lambda m: (balances[m], m)), cup))
    for member_id in buyers:
        affordable = [r for r in rewards.values() if r.points_price <= balances[member_id]]
        weights = [REWARDS[r.name][-1] for r in affordable]
        orders.append((member_id, rng.choices(affordable, weights)[0]))
    bag = rewards.get("品牌帆布袋")
    if bag and sum(r.kind == Reward.Kind.PHYSICAL for _m, r in orders) < 2:  # gifts to fulfil
        richest = max(buyers, key=lambda m: (balances[m], m), default=None)
        if richest is not None and balances[richest] >= bag.points_price:
            orders.append((richest, bag))
    members = Member.objects.in_bulk([m for m, _r in orders])
    done = []
    for n, (member_id, reward) in enumerate(orders, start=1):
        member = members[member_id]
        physical = reward.kind == Reward.Kind.PHYSICAL
        try:
            done.append(
                reward_redeem(
                    member=member,
                    reward=reward,
                    idempotency_key=f"demo:{member.member_number}:{reward.pk}:{n}",
                    ship_to=f"{member.city or '上海'} 人民路 {rng.randint(1, 999)} 号 {member.name} 收"
                    if physical
                    else "",
                    at=run.now,
                )
            )
        except (BenefitError, InsufficientPoints):
            continue  # sold out, limit reached, not enough points left after an earlier order
    return done


def _fulfil(run: DemoRun, redemptions: list[Redemption]) -> int:
    """The first gift is shipped, the second shipped and delivered."""
    gifts = [r for r in redemptions if r.status == Redemption.Status.REQUESTED][:2]
    operator = run.users.get("operator")
    for n, gift in enumerate(gifts):
        tracking = f"SF{1_300_000_000_000 + gift.pk * 7919 % 10**12:013d}"
        redemption_advance(gift, actor=operator, tracking_number=tracking, at=run.now)
        if n == 1:
            redemption_advance(gift, actor=operator, at=run.now + datetime.timedelta(seconds=1))
    return len(gifts)


def _redeem_at_store(run: DemoRun, rng: random.Random) -> int:
    """The demo store login redeems a few in-store coupons at its first store."""
    user = run.users.get("store")
    store = stores_of(user).order_by("code").first() if user else None
    if store is None:
        return 0
    usable = Coupon.objects.filter(
        member__in=run.members.values("pk"),
        status=Coupon.Status.ISSUED,
        valid_from__lte=run.now,
        valid_until__gt=run.now,
    ).order_by("pk")
    used = 0
    for benefit in STORE_COUPONS:  # one of each, if anyone holds one
        codes = list(usable.filter(benefit__name=benefit).values_list("code", flat=True)[:200])
        if not codes:
            continue
        code = rng.choice(codes)
        try:
            coupon_redeem(code=code, store=store, user=user, basket=DEMO_BASKET, at=run.now)
        except BenefitError:
            continue
        used += 1
    return used
