"""What every member's history shares: the clock and calendar (local days, expiry dates, the
scheduled jobs' times), the programme as the generators use it, reward stock, and the rows that
are the same for everyone's kind of fact (award reasons, line details, coupons).
"""

from __future__ import annotations

import datetime
import json
import random
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext

from benefits.coupons import ALPHABET, CODE_LENGTH
from benefits.models import Benefit
from campaigns.earning.engine import plain
from campaigns.models import Campaign
from campaigns.scale.blocks import Block
from campaigns.scale.people import DAY
from campaigns.scale.programme import Programme, StoreInfo, TierInfo
from members.models import Channel

# chance that an issued coupon is used, by benefit kind
USED: dict[str, float] = {
    Benefit.Kind.AMOUNT_OFF: 0.35,
    Benefit.Kind.PERCENT_OFF: 0.3,
    Benefit.Kind.FREE_SHIPPING: 0.45,
    Benefit.Kind.GIFT: 0.55,
    Benefit.Kind.INVITATION: 0.25,
}
EXPIRY_JOB = 5 * 60  # the nightly expiry job runs at 00:05 local time
REVIEW_JOB = 15 * 60  # the tier review at 00:15
ISSUE_JOB = 3600  # entitlements at 01:00


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def cny(points: int, value: Decimal) -> str:
    """A campaign line's cost: points x the value of a point, with the column's four places."""
    return str((points * value).quantize(Decimal("0.0001")))


class World:
    def __init__(
        self, *, programme: Programme, start: int, now: int, tz: datetime.tzinfo, seed: int, every_award: bool
    ) -> None:
        self.every_award = every_award  # else only awards with a campaign's line (see life.Life._buy)
        self.programme, self.start, self.now, self.tz = programme, start, now, tz
        self.rng = random.Random(f"scale:{seed}:coupons")
        self.block = Block()
        self.tiers: list[TierInfo] = programme.tiers
        self.pending = programme.pending_days * DAY
        self.offers = programme.offers
        self.stock = {r.id: r.stock for r in programme.rewards if r.stock is not None}  # units left
        self.benefit_kinds = dict(Benefit.objects.values_list("pk", "kind"))
        self.online_store = next((s for s in programme.stores if s.channel != Channel.STORE), None)
        self._expiry: dict[int, int] = {}
        self._hours: dict[int, datetime.datetime] = {}
        self._offer_names: dict[int, str] = {}
        self._periods: dict[int, tuple[int, str, str]] = {}
        self._event_params: dict[str, str] = {}
        self.upgrade_reason = str(Campaign.Trigger.TIER_UPGRADE.label)[:100]
        self.refund_reason = gettext("Refund %(number)s")
        self.names = {tier.id: json.dumps(tier.name) for tier in self.tiers}
        self.tier_params = {
            tier.id: f'{{"tier": {self.names[tier.id]}, "multiplier": "{plain(tier.multiplier)}"}}'
            for tier in self.tiers
        }
        self.tier_names = {tier.id: f'{{"tier": {self.names[tier.id]}}}' for tier in self.tiers}
        self.multipliers = {tier.id: int(tier.multiplier * 100) for tier in self.tiers}
        self.ticks = self._ticks()

    # --- the clock ------------------------------------------------------------------------

    def local(self, at: int) -> datetime.datetime:
        """``at`` in the programme's time zone, to the hour (all that years, months and days need:
        one conversion an hour of history instead of one per fact)."""
        hour = at // 3600
        if (moment := self._hours.get(hour)) is None:
            moment = self._hours[hour] = datetime.datetime.fromtimestamp(hour * 3600, self.tz)
        return moment

    def periods(self, at: int) -> tuple[int, str, str]:
        """(local month, its monthly period key, its yearly one) of ``at``, as ``period_key``."""
        hour = at // 3600
        if (found := self._periods.get(hour)) is None:
            local = self.local(at)
            found = self._periods[hour] = (local.month, f"{local:%Y-%m}", f"{local:%Y}")
        return found

    @staticmethod
    def utc_time(at: int) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(at, datetime.UTC)

    def midnight(self, year: int, month: int, day: int) -> int:
        return int(datetime.datetime(year, month, day, tzinfo=self.tz).timestamp())

    def expires(self, at: int) -> int:
        """积分 earned at ``at``: valid through 31 December N years after the earning year."""
        year = self.local(at).year
        if (moment := self._expiry.get(year)) is None:
            moment = self._expiry[year] = self.midnight(year + self.programme.expiry_years + 1, 1, 1)
        return moment

    def _ticks(self) -> list[tuple[int, str]]:
        """When the scheduled jobs that matter here ran, oldest first: expiry (1 January), the
        tier review (the grace days after 1 January) and the entitlements (each 1st)."""
        first, last = self.local(self.start - 400 * DAY), self.local(self.now)
        ticks = []
        for year in range(first.year, last.year + 1):
            ticks.append((self.midnight(year, 1, 1) + EXPIRY_JOB, "expire"))
            review = self.midnight(year, 1, 1) + self.programme.grace_days * DAY + REVIEW_JOB
            ticks.append((review, "review"))
            ticks += [(self.midnight(year, month, 1) + ISSUE_JOB, "issue") for month in range(1, 13)]
        return sorted(tick for tick in ticks if tick[0] < self.now)

    # --- rows every kind of fact shares ----------------------------------------------------

    def coupon(
        self,
        *,
        member: int,
        benefit: int,
        origin: str,
        at: int,
        days: int,
        store: StoreInfo,
        entitlement: int | None = None,
        period: str = "",
        seq: int = 1,
    ) -> int:
        """Issue a coupon; whether it was used (and where) or ran out is drawn now. Local id."""
        rng = self.rng
        until = at + days * DAY
        status, used_at, used_store = "expired" if until <= self.now else "issued", None, None
        if rng.random() < USED.get(self.benefit_kinds[benefit], 0.3):
            used_at = at + int(rng.random() * (min(until, self.now) - at))
            if used_at < self.now:
                status = "redeemed"
                kind = self.benefit_kinds[benefit]
                shop = (
                    self.online_store if kind == Benefit.Kind.FREE_SHIPPING and self.online_store else store
                )
                used_store = shop.id
            else:
                used_at = None
        bits, letters = rng.getrandbits(80), []  # 16 letters of 30: 79 bits
        for _ in range(CODE_LENGTH):
            bits, letter = divmod(bits, 30)
            letters.append(ALPHABET[letter])
        code = "".join(letters)
        row = (
            code,
            benefit,
            member,
            status,
            at,
            until,
            origin,
            entitlement,
            period,
            seq,
            used_at,
            used_store,
        )
        return self.block.coupons.add(row, at)

    def line(
        self,
        award: int,
        member: int,
        kind: str,
        point_type: int | None,
        amount: int,
        at: int,
        params: str,
        *,
        campaign: int | None = None,
        coupon: int | None = None,
        cost: str = "0",
    ) -> None:
        self.block.lines.add(
            (award, member, kind, point_type, amount, campaign, coupon, cost, at, params), at
        )

    def award(
        self,
        kind: str,
        member: int,
        at: int,
        *,
        reason: str,
        purchase: int | None = None,
        refund: int | None = None,
        event: int | None = None,
        cause: int | None = None,
        key: str = "",
        created: int | None = None,
    ) -> int:
        row = (kind, member, purchase, refund, event, reason, cause, at, created or at, key)
        return self.block.awards.add(row, at)

    def campaign_params(self, offer: Any, parts: dict[str, int]) -> str:
        """``json.dumps`` of the engine's details, written directly (one per campaign line)."""
        if (name := self._offer_names.get(offer.id)) is None:
            name = self._offer_names[offer.id] = json.dumps(offer.name)
        inner = ", ".join(f'"{part}": {points}' for part, points in parts.items())
        return f'{{"campaign": {name}, "parts": {{{inner}}}, "capped": "", "wanted": {sum(parts.values())}}}'

    def event_params(self, code: str) -> str:
        if (params := self._event_params.get(code)) is None:
            _type, name, _amount, cap, period = self.programme.events[code]
            params = json.dumps({"event": name, "cap": cap, "period": period, "capped": False})
            self._event_params[code] = params
        return params

    def new_block(self) -> Block:
        done, self.block = self.block, Block()
        return done


def refund_params(params: str, share: Decimal) -> str:
    """A refund line's details: its earned line's, with the share refunded."""
    return json.dumps({**json.loads(params), "refund_share": str(share)})
