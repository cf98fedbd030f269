"""The values of a message's variables (``members.messaging.rendering.VARIABLES``) for members,
read from every app: points, expiry, tier progress, coupons, rewards.

Read for a batch at once, and only the variables the template uses: the expiry reminder for
100,000 members costs a few queries per thousand members, while the tier's progress (a few
queries per member) is read only by templates that name it. The template preview in the admin
uses the same function for one member (``register`` hands it to the message centre, which sits
below the apps it reads).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.utils import timezone

from benefits.models import Coupon
from benefits.selectors import rewards_on_offer
from members.messaging import rendering
from members.messaging.replies import unsubscribe_url
from members.models import Member
from points.models import Account
from points.policy import last_valid_day
from points.selectors import next_expiries
from tiers.selectors import tier_progress

#: The point type members spend (its balance, expiry and rewards' prices).
POINTS = "points"
_PROGRESS = {"tier", "next_tier", "growth_needed", "review_date"}
#: {name} of a member who gave none, in the template's language (not the admin's).
NO_NAME = {"zh-hans": "会员", "en": "member"}
#: {reward} of a member whose points buy no reward yet.
NO_REWARD = {"zh-hans": "积分商城的好礼", "en": "rewards in our catalogue"}


def _date(day: datetime.date) -> str:
    return f"{day:%Y-%m-%d}"


def member_values(
    members: Sequence[Member],
    names: Iterable[str],
    *,
    channel: str,
    language: str = "zh-hans",
    coupons: Mapping[int, Coupon] | None = None,
    now: datetime.datetime | None = None,
) -> dict[int, dict[str, Any]]:
    """``{member id: {variable: value}}`` for the variables in ``names``. ``coupons``: the coupon
    a message is about, per member (the one a journey issued, or the one about to expire);
    without it, the member's coupon that expires first."""
    now = now or timezone.now()
    wanted = set(names)
    ids = [m.pk for m in members]
    values: dict[int, dict[str, Any]] = {
        m.pk: {"name": m.name or NO_NAME.get(language, ""), "member_number": m.member_number} for m in members
    }
    balances: dict[int, int] = {}
    if wanted & {"points", "expiring_points", "expiring_date", "reward", "reward_points"}:
        rows = Account.objects.filter(member_id__any=ids, point_type__code=POINTS).values_list(
            "member_id", "pk", "available"
        )
        accounts = {member_id: pk for member_id, pk, _available in rows}
        balances = {member_id: available for member_id, _pk, available in rows}
        if wanted & {"expiring_points", "expiring_date"}:
            expiries = next_expiries(list(accounts.values()), now=now)
            for member_id, account_id in accounts.items():
                if nxt := expiries.get(account_id):
                    values[member_id]["expiring_points"] = nxt.points
                    values[member_id]["expiring_date"] = _date(nxt.last_day)
        for member_id, available in balances.items():
            values[member_id]["points"] = available
    if wanted & {"reward", "reward_points"}:
        _add_rewards(values, balances, now)
        for value in values.values():
            value.setdefault("reward", NO_REWARD.get(language, ""))
    if wanted & {"coupon", "coupon_expires"}:
        _add_coupons(values, ids, coupons or {}, now)
    if wanted & _PROGRESS:
        for member in members:
            values[member.pk].update(_progress(member, now))
    if "unsubscribe" in wanted:
        for member in members:
            values[member.pk]["unsubscribe"] = unsubscribe_url(member, channel)
    return values


def _add_rewards(
    values: dict[int, dict[str, Any]], balances: Mapping[int, int], now: datetime.datetime
) -> None:
    """The dearest reward on offer, in stock and open to everyone, that the member's available
    points buy now: the most a reminder can promise. Rewards kept for a tier are left out (a
    member below it would be promised what they cannot redeem)."""
    offer = list(
        rewards_on_offer(now)
        .filter(min_tier__isnull=True)
        .exclude(stock=0)
        .order_by("-points_price", "pk")
        .values_list("name", "points_price")
    )
    for member_id, available in balances.items():
        reward = next(((name, price) for name, price in offer if price <= available), None)
        if reward:
            values[member_id]["reward"], values[member_id]["reward_points"] = reward


def _add_coupons(
    values: dict[int, dict[str, Any]], ids: list[int], given: Mapping[int, Coupon], now: datetime.datetime
) -> None:
    found = dict(given)
    missing = [pk for pk in ids if pk not in found]
    if missing:
        for coupon in (
            Coupon.objects.filter(member_id__any=missing, status=Coupon.Status.ISSUED, valid_until__gt=now)
            .select_related("benefit")
            .order_by("member_id", "valid_until", "pk")
        ):
            found.setdefault(coupon.member_id, coupon)
    for member_id, coupon in found.items():
        values[member_id]["coupon"] = coupon.benefit.name
        values[member_id]["coupon_expires"] = _date(last_valid_day(coupon.valid_until))


def _progress(member: Member, now: datetime.datetime) -> dict[str, Any]:
    progress = tier_progress(member, now)
    needed = progress.needed_for_next if progress.keeps else progress.needed_to_keep
    return {
        "tier": progress.tier.name,
        "next_tier": progress.next_tier.name if progress.next_tier else "",
        "growth_needed": needed,
        "review_date": _date(progress.deadline),
    }


def preview_values(member: Member, channel: str, language: str) -> dict[str, Any]:
    """Every variable for one member: the template preview."""
    return member_values([member], rendering.VARIABLES, channel=channel, language=language)[member.pk]


def _journeys(refs: list[str]) -> dict[str, str]:
    """Ledger keys of points a journey gave (``journey:<code>:<entry>``), in words."""
    from django.utils.translation import gettext as _

    from campaigns.journeys.models import Journey

    codes = {ref: ref.split(":")[1] for ref in refs if ref.count(":") >= 1}
    names = dict(Journey.objects.filter(code__in=set(codes.values())).values_list("code", "name"))
    return {
        ref: _("Journey: %(journey)s") % {"journey": names[code]}
        for ref, code in codes.items()
        if code in names
    }


def register() -> None:
    """Hand the apps below what only this one can compute: the preview's values (the message
    centre) and the words for the points a journey gave (the ledger's pages)."""
    from points.sources import DESCRIBERS

    rendering.PREVIEW_VALUES = preview_values
    DESCRIBERS["journey"] = _journeys
