"""One member's history replayed in time order, writing what the earning pipeline, the ledger,
the tier services, the coupon jobs and the rewards catalogue would have written for it.

Each purchase is awarded as ``campaigns.earning.pipeline.purchase_process`` awards it (base
lines for 积分 and 成长值 at 1 per CNY rounded down, the tier multiplier on 积分, then the live
campaigns by priority with their control groups, the first-purchase coupon), posted as one
entry per point type under the pipeline's keys, and followed by the tier refresh (an upgrade
issues the tier's coupons and the upgrade gift, as ``_after_growth`` does). Refunds take back
each line's share (``campaigns.earning.refunds``), events earn their behaviour rule. Between
facts the scheduled jobs run when they ran live: expiry on 1 January, the tier review after the
grace days, the entitlements on each 1st. Redemptions spend on rewards the member can afford.
"""

from __future__ import annotations

import bisect
import heapq
import json
import random
from decimal import Decimal
from typing import Any

from campaigns.earning.engine import in_control
from campaigns.scale.facts import EventFact, Facts, PurchaseFact
from campaigns.scale.ledger import Book
from campaigns.scale.people import DAY, People, Person
from campaigns.scale.spending import adjust, redeem
from campaigns.scale.world import World, cny, money, refund_params
from points.services.common import fingerprint

ADJUSTED = 0.005  # members with an operator's adjustment
ADJUSTMENTS = [(200, "客诉补偿积分"), (500, "门店活动补录积分"), (-100, "重复积分扣回")]


class Life:
    __slots__ = (
        "bought",
        "controls",
        "growth",
        "issued",
        "joined",
        "limits",
        "person",
        "points",
        "redeemed",
        "rng",
        "status",
        "tier",
        "world",
        "years",
    )

    def __init__(self, world: World, person: Person, first_account: int) -> None:
        self.world, self.person = world, person
        self.rng = random.Random(person.index * 7_919 + 104_729)
        block = world.block
        self.points = Book(block, first_account, person.id, "points")
        self.growth = Book(block, first_account + 1, person.id, "growth")
        self.tier = 0  # rank of the (effective = earned) tier
        self.status: list[int] | None = None  # [since, period_start, valid_until] once it exists
        self.years: dict[int, int] = {}  # local year -> qualifying growth posted in it
        self.issued: set[tuple[int, str]] = set()  # (entitlement, period) already issued
        self.bought = False
        self.joined: dict[int, list[Any]] = {}  # campaign -> [control, first at]
        self.limits: dict[int, int] = {}  # reward -> redeemed
        self.redeemed = 0
        self.controls: dict[int, bool] = {}

    # --- the whole history ----------------------------------------------------------------

    def live(self, facts: Facts, people: People) -> None:
        person, rng, world = self.person, self.rng, self.world
        years = people.active_years(person)
        queue: list[tuple[int, int, str, Any]] = []
        order = 0
        for fact in facts.purchases(person, rng, years):
            queue.append((fact.at, order, "buy", fact))
            order += 1
        for event in facts.events(person, rng, years, len(queue)):
            queue.append((event.at, order, "event", event))
            order += 1
        if queue and rng.random() < ADJUSTED:
            first = min(queue)[0]
            amount, reason = rng.choice(ADJUSTMENTS)
            at = first + int(rng.random() * (world.now - first))
            queue.append((at, order, "adjust", (amount, reason)))
        heapq.heapify(queue)
        ticks = world.ticks
        tick = bisect.bisect_left(ticks, (person.registered, ""))  # the jobs before they joined did nothing
        while queue:
            at, order, kind, payload = heapq.heappop(queue)
            while tick < len(ticks) and ticks[tick][0] <= at:
                self._tick(*ticks[tick])
                tick += 1
            if kind == "buy":
                self._buy(payload, queue)
            elif kind == "refund":
                self._refund(at, *payload)
            elif kind == "event":
                self._event(payload)
            elif kind == "redeem":
                redeem(self, at)
            else:
                adjust(self, at, *payload)
        for at, kind in ticks[tick:]:
            self._tick(at, kind)
        self._finish()

    def _tick(self, at: int, kind: str) -> None:
        if at < self.person.registered:
            return
        if kind == "expire":
            self.points.expire_due(at)
        elif kind == "review":
            self._review(at)
        else:
            self._issue(at)

    # --- purchases ------------------------------------------------------------------------

    def _control(self, offer: Any) -> bool:
        if (held := self.controls.get(offer.id)) is None:
            held = self.controls[offer.id] = in_control(offer.id, self.person.id, offer.holdout)
        return held

    def _join(self, campaign: int, control: bool, at: int) -> None:
        if campaign not in self.joined:
            self.joined[campaign] = [control, at]

    def _buy(self, fact: PurchaseFact, queue: list) -> None:
        world, person, at = self.world, self.person, fact.at
        block = world.block
        purchase = block.purchases.add([fact, 0, "completed", person.id], at)
        eligible = fact.paid - fact.shipping
        base = eligible // 100
        params = f'{{"rate": "1", "rounding": "floor", "eligible": "{money(eligible)}"}}'
        points_type, growth_type = world.programme.points_type, world.programme.growth_type
        earned: list[tuple[str, int, int | None, int, Decimal, str]] = [
            ("base", points_type, None, base, Decimal(0), params),
            ("base", growth_type, None, base, Decimal(0), params),
        ]
        tier = world.tiers[self.tier]
        multiplier = world.multipliers[tier.id]
        if multiplier != 100 and (extra := base * (multiplier - 100) // 100):
            earned.append(("tier", points_type, None, extra, Decimal(0), world.tier_params[tier.id]))
        coupons = []
        local = world.local(at)
        for offer in world.offers:
            if not offer.starts <= at < offer.ends:
                continue
            if offer.birthday_month and (person.birthday is None or person.birthday.month != local.month):
                continue
            if offer.first_purchase_days is not None and (
                self.bought or at - person.registered > offer.first_purchase_days * DAY
            ):
                continue
            if self._control(offer):
                self._join(offer.id, True, at)
                continue
            parts = {}
            if offer.multiplier is not None and offer.multiplier > 1:
                parts["multiplier"] = int(base * (offer.multiplier - 1))
            if offer.bonus:
                parts["bonus"] = offer.bonus
            points = sum(parts.values())
            if points:
                cost = points * world.programme.cny_value
                earned.append(
                    ("campaign", points_type, offer.id, points, cost, world.campaign_params(offer, parts))
                )
            if offer.benefit_id is not None:
                coupons.append(offer)
            if points or offer.benefit_id is not None:
                self._join(offer.id, False, at)
        self.bought = True
        award = None
        if world.every_award or coupons or any(line[0] == "campaign" for line in earned):
            award = self._purchase_award(fact, purchase, earned, coupons)
        points = sum(line[3] for line in earned if line[1] == points_type)
        pending_until = at + world.pending
        for book, amount, expires in ((self.points, points, world.expires(at)), (self.growth, base, None)):
            if amount > 0:
                book.earn(
                    amount,
                    source="purchase",
                    reason=f"{fact.source} {fact.order}"[:100],
                    at=at,
                    available_at=pending_until,
                    expires_at=expires,
                    ref=("P", purchase, 0, pending_until),
                    own=purchase,
                )
        self._grow(at, base)
        self._refresh(at, award)
        if fact.refund_at is not None:
            heapq.heappush(queue, (fact.refund_at, -purchase - 1, "refund", (purchase, fact, earned, award)))
        if person.redeems and self.rng.random() < person.redeems * 0.35:
            when = at + self.rng.randint(3600, 3 * DAY)
            if when < world.now:
                heapq.heappush(queue, (when, -purchase - 1, "redeem", None))

    def _purchase_award(self, fact: PurchaseFact, purchase: int, earned: list, coupons: list) -> int:
        """The purchase's award and its lines (every purchase's, or those a campaign gave to)."""
        world, person, at = self.world, self.person, fact.at
        award = world.award(
            "purchase", person.id, at, reason=f"{fact.source} {fact.order}"[:100], purchase=purchase
        )
        for kind, type_id, campaign, amount, cost, line_params in earned:
            world.line(
                award,
                person.id,
                kind,
                type_id,
                amount,
                at,
                line_params,
                campaign=campaign,
                cost=cny(amount, world.programme.cny_value) if cost else "0",
            )
        for offer in coupons:
            coupon = world.coupon(
                member=person.id,
                benefit=offer.benefit_id,
                origin="campaign",
                at=at,
                days=offer.benefit_days,
                store=fact.store,
            )
            world.line(
                award,
                person.id,
                "campaign",
                None,
                0,
                at,
                json.dumps({"campaign": offer.name}),
                campaign=offer.id,
                coupon=coupon,
            )
        return award

    def _refund(
        self, at: int, purchase: int, fact: PurchaseFact, earned: list, earned_award: int | None
    ) -> None:
        world, person = self.world, self.person
        block = world.block
        number = f"{fact.order}-R1"
        refund = block.refunds.add((purchase, fact.source, number, money(fact.refund), at), at)
        row = block.purchases.rows[purchase]
        row[1] = fact.refund
        row[2] = "refunded" if fact.refund >= fact.paid else "partly_refunded"
        award = None
        if earned_award is not None:  # a refund's award mirrors its purchase's
            award = world.award(
                "refund",
                person.id,
                at,
                reason=(world.refund_reason % {"number": number})[:100],
                purchase=purchase,
                refund=refund,
            )
        share = min(Decimal(fact.refund) / Decimal(fact.paid), Decimal(1))
        totals: dict[int, int] = {}
        for kind, type_id, campaign, amount, cost, params in sorted(earned, key=lambda line: str(line[:3])):
            take = (
                amount if share == 1 else int((amount * share).quantize(Decimal(1), rounding="ROUND_HALF_UP"))
            )
            take = min(take, amount)
            if take and award is not None:
                ratio = cost / amount if amount else Decimal(0)
                back = -(ratio * take)
                world.line(
                    award,
                    person.id,
                    kind,
                    type_id,
                    -take,
                    at,
                    refund_params(params, share),
                    campaign=campaign,
                    cost=str(back.quantize(Decimal("0.0001"))) if back else "0",
                )
            if take:
                totals[type_id] = totals.get(type_id, 0) + take
        reason = (world.refund_reason % {"number": number})[:100]
        for type_id, amount in sorted(totals.items()):
            book = self.points if type_id == world.programme.points_type else self.growth
            book.reverse(amount, own=purchase, reason=reason, at=at, ref=("R", refund, purchase, None))
            if book is self.growth:
                self._grow(at, -amount)

    # --- events, rewards, adjustments -------------------------------------------------------

    def _event(self, event: EventFact) -> None:
        world, person, at = self.world, self.person, event.at
        type_id, name, amount, _cap, _period = world.programme.events[event.code]
        local = world.block.events.add((person.id, type_id, event.key, event.channel, at), at)
        if world.every_award:
            award = world.award("event", person.id, at, reason=name[:100], event=local)
            params = world.event_params(event.code)
            world.line(award, person.id, "behaviour", world.programme.points_type, amount, at, params)
        self.points.earn(
            amount,
            source="event",
            reason=name[:100],
            at=at,
            available_at=at,
            expires_at=world.expires(at),
            ref=("E", local, 0, at),
        )

    # --- tiers and their coupons ------------------------------------------------------------

    def _grow(self, at: int, amount: int) -> None:
        year = self.world.local(at).year
        self.years[year] = self.years.get(year, 0) + amount

    def _qualified(self, value: int) -> int:
        rank = 0
        for tier in self.world.tiers:
            if tier.threshold <= value:
                rank = tier.rank
        return rank

    def _refresh(self, at: int, cause: int | None) -> None:
        """``tier_refresh`` after a purchase: the status row on first need, upgrades at once."""
        world = self.world
        if self.status is None:
            year = world.local(at).year
            self.status = [self.person.registered, world.midnight(year, 1, 1), world.midnight(year + 1, 1, 1)]
        first = world.local(self.status[1]).year
        # the period's year and, in its grace days, the next one's first weeks
        value = self.years.get(first, 0) + self.years.get(first + 1, 0)
        target = self._qualified(value)
        if target <= self.tier:
            return
        before, self.tier = world.tiers[self.tier], target
        tier = world.tiers[target]
        self.status[0] = at
        world.block.changes.add((self.person.id, before.id, tier.id, tier.id, "upgrade", value, at), at)
        coupons = self._issue(at)
        stamp = world.utc_time(at).strftime("%Y%m%d%H%M%S")
        key = f"tier_upgrade:{self.person.id}:{tier.code}:{stamp}"
        award = world.award(
            "lifecycle", self.person.id, at, reason=world.upgrade_reason, cause=cause, key=key
        )
        offer = world.programme.upgrade
        if offer is not None and offer.starts <= at < offer.ends and offer.bonus:
            params = world.campaign_params(offer, {"bonus": offer.bonus})
            cost = cny(offer.bonus, world.programme.cny_value)
            world.line(
                award,
                self.person.id,
                "campaign",
                world.programme.points_type,
                offer.bonus,
                at,
                params,
                campaign=offer.id,
                cost=cost,
            )
            self._join(offer.id, False, at)
            digest = fingerprint(
                op="earn",
                member=self.person.id,
                type="points",
                amount=offer.bonus,
                source="campaign",
                ref=key,
                available_at=world.utc_time(at),
            )
            self.points.earn(
                offer.bonus,
                source="campaign",
                reason=world.upgrade_reason,
                at=at,
                available_at=at,
                expires_at=world.expires(at),
                ref=("K", 0, 0, (f"{key}:points", key, digest)),
            )
        for coupon in coupons:
            world.line(
                award, self.person.id, "benefit", None, 0, at, world.tier_names[tier.id], coupon=coupon
            )

    def _review(self, at: int) -> None:
        """The period-end review (``tiers_review_due``): one level down at most, never below what
        the growth qualifies for; the period moves on a year."""
        world, status = self.world, self.status
        if status is None or status[2] + world.programme.grace_days * DAY > at:
            return
        year = world.local(status[1]).year
        value = self.years.get(year, 0) + self.years.get(year + 1, 0)
        target = self._qualified(value)
        before = self.tier
        after = target if target >= before else max(target, before - 1)
        status[1], status[2] = status[2], world.midnight(year + 2, 1, 1)
        if after != before:
            self.tier, status[0] = after, at
            reason = "upgrade" if after > before else "downgrade"
            tiers = world.tiers
            world.block.changes.add(
                (self.person.id, tiers[before].id, tiers[after].id, tiers[after].id, reason, value, at), at
            )

    def _issue(self, at: int) -> list[int]:
        """``entitlements_issue`` for this member at ``at``: the period's coupons not yet issued."""
        world, person = self.world, self.person
        if person.status != "active":
            return []
        month, monthly, yearly = world.periods(at)
        made = []
        for ent in world.programme.entitlements[world.tiers[self.tier].id]:
            if ent.period == "birthday" and (person.birthday is None or person.birthday.month != month):
                continue
            period = monthly if ent.period == "monthly" else yearly
            if (ent.id, period) in self.issued:
                continue
            self.issued.add((ent.id, period))
            for seq in range(1, ent.quantity + 1):
                made.append(
                    world.coupon(
                        member=person.id,
                        benefit=ent.benefit_id,
                        origin="entitlement",
                        at=at,
                        days=ent.valid_days,
                        store=person.store,
                        entitlement=ent.id,
                        period=period,
                        seq=seq,
                    )
                )
        return made

    # --- the rows that hold the end state -------------------------------------------------

    def _finish(self) -> None:
        world, person = self.world, self.person
        block = world.block
        for book, type_id in (
            (self.points, world.programme.points_type),
            (self.growth, world.programme.growth_type),
        ):
            account, member, *figures, flagged, updated = book.account_row(world.now)
            block.accounts.append((account, member, type_id, *figures, flagged, updated or person.registered))
        if self.status is not None:
            tier = world.tiers[self.tier].id
            block.statuses.append((person.id, tier, self.status[0], tier, self.status[1], self.status[2]))
        for campaign, (control, first) in self.joined.items():
            block.participations.add((campaign, person.id, control, first), first)
