"""Spending and operators' corrections in a member's history: rewards bought with points and
manual adjustments, as ``benefits.rewards`` and ``points.services.adjustments`` write them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from campaigns.scale.people import DAY
from points.services.common import fingerprint

if TYPE_CHECKING:
    from campaigns.scale.life import Life


def redeem(life: Life, at: int) -> None:
    """A reward bought with points the member can spend now (``benefits.rewards.reward_redeem``):
    price, tier, per-member limit and stock checked; a coupon issued or a gift sent."""
    world, person, rng = life.world, life.person, life.rng
    if person.status != "active":
        return
    have = life.points.spendable(at)
    choices = [
        r
        for r in world.programme.rewards
        if r.price <= have
        and r.min_rank <= life.tier
        and (r.limit is None or life.limits.get(r.id, 0) < r.limit)
        and world.stock.get(r.id, 1) > 0
    ]
    if not choices:
        return
    reward = rng.choices(choices, [r.weight for r in choices])[0]
    if reward.id in world.stock:
        world.stock[reward.id] -= 1
    life.limits[reward.id] = life.limits.get(reward.id, 0) + 1
    life.redeemed += 1
    key = f"seed:{person.number}:{life.redeemed}"
    ref = f"reward:{reward.id}"
    digest = fingerprint(
        op="spend", member=person.id, type="points", amount=reward.price, source="redemption", ref=ref
    )
    spend = life.points.spend(
        reward.price,
        source="redemption",
        reason=reward.name[:200],
        at=at,
        ref=("K", 0, 0, (f"reward:{key}", ref, digest)),
    )
    coupon, status, tracking, ship_to = None, "completed", "", ""
    if reward.kind == "physical":
        age = world.now - at
        status = "delivered" if age > 10 * DAY else "shipped" if age > 3 * DAY else "requested"
        tracking = f"SF{1_300_000_000_000 + rng.randrange(10**12):013d}" if status != "requested" else ""
        ship_to = f"{person.store.city or '上海'} 人民路 {rng.randint(1, 999)} 号"
    else:
        assert reward.benefit_id is not None
        coupon = world.coupon(
            member=person.id,
            benefit=reward.benefit_id,
            origin="reward",
            at=at,
            days=reward.valid_days,
            store=person.store,
        )
    row = (person.id, reward.id, reward.price, status, spend, coupon, ship_to, tracking, key, at)
    world.block.redemptions.add(row, at)


def adjust(life: Life, at: int, amount: int, reason: str) -> None:
    """An operator's adjustment under the approval threshold (``points_adjust`` posts it at once)."""
    book = life.points
    if amount < 0 and book.spendable(at) < -amount:
        return
    key = f"ops:{life.person.number}:1"
    digest = fingerprint(op="adjust", account=book.account, amount=amount, reason=reason)
    ref = ("K", 0, 0, (key, "", digest))
    if amount > 0:
        book.earn(
            amount,
            source="operator",
            reason=reason,
            at=at,
            available_at=at,
            expires_at=life.world.expires(at),
            ref=ref,
            kind="adjust",
        )
    else:
        book.spend(-amount, source="operator", reason=reason, at=at, ref=ref, kind="adjust")
