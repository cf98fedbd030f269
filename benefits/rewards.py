"""The rewards catalogue: buying a reward with points, cancelling it, and fulfilling gifts.

Lock order, the same in every path: the reward row, then (inside the ledger) the member's
household, if the spend may use its pool, then the points accounts. Whoever locks the reward
first decides the last unit; the others find it gone before any of their points move.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from benefits.coupons import coupon_issue, coupon_void
from benefits.errors import (
    LimitReached,
    NotCancellable,
    OutOfStock,
    RewardUnavailable,
    StatusChanged,
    TierRequired,
)
from benefits.models import Coupon, Redemption, Reward
from config.common.errors import IdempotencyConflict
from config.common.states import transition
from members.errors import MemberFrozen, SpendingBlocked
from members.models import Member
from points.households.pool import household_refund, household_spend
from points.models import Source
from tiers.models import MemberTier
from tiers.selectors import ladder

POINTS = "points"


def reward_redeem(
    *,
    member: Member,
    reward: Reward,
    idempotency_key: str,
    actor: Any = None,
    ship_to: str = "",
    at: datetime.datetime | None = None,
) -> Redemption:
    """Spend the reward's price and take one unit of stock, atomically; issue the coupon, or
    queue a physical gift for fulfilment. A retry with the same key returns the same redemption."""
    at = at or timezone.now()
    if not idempotency_key or len(idempotency_key) > 90:
        raise ValidationError({"idempotency_key": _("An idempotency key of 1 to 90 characters is required.")})
    with transaction.atomic():
        reward = (
            Reward.objects.select_for_update(of=("self",))
            .select_related("benefit", "min_tier")
            .get(pk=reward.pk)
        )
        if done := Redemption.objects.filter(idempotency_key=idempotency_key).first():
            if done.member_id != member.pk or done.reward_id != reward.pk:
                raise IdempotencyConflict(
                    _("Idempotency key %(key)s was already used for a different request.")
                    % {"key": idempotency_key}
                )
            return done
        _check_can_redeem(member, reward, at)
        # a member of a household whose rules let them spend the pool draws on it for what their
        # own points do not cover (points.households.pool)
        spend = household_spend(
            member=member,
            point_type=POINTS,
            amount=reward.points_price,
            source=Source.REDEMPTION,
            source_ref=f"reward:{reward.pk}",
            idempotency_key=f"reward:{idempotency_key}",
            actor=actor,
            reason=reward.name,
            at=at,
        )
        if reward.stock is not None:  # locked above; update() keeps the catalogue's history for edits
            Reward.objects.filter(pk=reward.pk).update(stock=F("stock") - 1)
        coupon = None
        if reward.kind != Reward.Kind.PHYSICAL:
            assert reward.benefit is not None  # the constraint reward_coupon_has_benefit
            coupon = coupon_issue(member, benefit=reward.benefit, origin=Coupon.Origin.REWARD, at=at)
        return Redemption.objects.create(
            member=member,
            reward=reward,
            points=reward.points_price,
            spend=spend,
            coupon=coupon,
            status=Redemption.Status.REQUESTED if coupon is None else Redemption.Status.COMPLETED,
            ship_to=ship_to.strip(),
            idempotency_key=idempotency_key,
            actor=actor if getattr(actor, "pk", None) else None,
            created_at=at,
            updated_at=at,
        )


def _check_can_redeem(member: Member, reward: Reward, at: datetime.datetime) -> None:
    if not reward.active or (reward.valid_from and reward.valid_from > at):
        raise RewardUnavailable(_("%(reward)s is not on offer.") % {"reward": reward})
    if reward.valid_until and reward.valid_until <= at:
        raise RewardUnavailable(_("%(reward)s is no longer on offer.") % {"reward": reward})
    if member.status == Member.Status.FROZEN:
        raise MemberFrozen(_("This member is frozen: no rewards until an operator unfreezes them."))
    if member.status != Member.Status.ACTIVE:
        raise RewardUnavailable(_("Only active members can redeem rewards."))
    if member.block_spending:
        raise SpendingBlocked(_("This member is under risk review: no rewards until an approver decides."))
    if reward.stock is not None and reward.stock <= 0:
        raise OutOfStock(_("%(reward)s is out of stock.") % {"reward": reward})
    if reward.min_tier is not None:
        status = MemberTier.objects.filter(member=member).select_related("tier").first()
        tier = status.tier if status else ladder()[0]
        if tier.rank < reward.min_tier.rank:
            raise TierRequired(
                _("%(reward)s is for %(tier)s members and above.")
                % {"reward": reward, "tier": reward.min_tier}
            )
    if reward.per_member_limit:
        had = (
            Redemption.objects.filter(member=member, reward=reward)
            .exclude(status=Redemption.Status.CANCELLED)
            .count()
        )
        if had >= reward.per_member_limit:
            raise LimitReached(
                _("Limit reached: %(limit)d per member.") % {"limit": reward.per_member_limit},
                limit=reward.per_member_limit,
            )


def redemption_cancel(
    redemption: Redemption, *, actor: Any, reason: str, at: datetime.datetime | None = None
) -> Redemption:
    """Undo a redemption: refund the points (with the expiry dates they had), restock, void the
    unused coupon. Not once the coupon was used or the gift shipped."""
    at = at or timezone.now()
    if not reason.strip():
        raise ValidationError({"note": _("Say why the redemption is cancelled.")})
    with transaction.atomic():
        reward = Reward.objects.select_for_update().get(pk=redemption.reward_id)
        redemption = (
            Redemption.objects.select_for_update().select_related("spend__account").get(pk=redemption.pk)
        )
        transition(
            redemption,
            Redemption.Status.CANCELLED,
            table=Redemption.MOVES,
            refused=NotCancellable,
            message=_("A redemption that is %(status)s cannot be cancelled.")
            % {"status": redemption.get_status_display()},
        )
        if redemption.coupon_id:
            coupon = Coupon.objects.select_for_update().get(pk=redemption.coupon_id)
            if coupon.status == Coupon.Status.REDEEMED:
                raise NotCancellable(_("The coupon was already used."))
            if coupon.status == Coupon.Status.ISSUED:
                coupon_void(coupon, actor=actor, reason=reason, at=at, redemption_cancelled=True)
        # the points go back to the accounts they came from, a household pool's included
        redemption.refund = household_refund(
            spend=redemption.spend, actor=actor, reason=reason.strip(), at=at
        )
        if reward.stock is not None:
            Reward.objects.filter(pk=reward.pk).update(stock=F("stock") + 1)
        redemption.note = reason.strip()
        redemption.updated_at = at
        _record_actor(redemption, actor)
        redemption.save(update_fields=["refund", "status", "note", "updated_at"])
    return redemption


def fulfilment_next(status: str) -> str | None:
    """The step after ``status`` on a gift's way to the member: its move that is not a cancellation."""
    onward = Redemption.MOVES.targets(status) - {Redemption.Status.CANCELLED}
    return next(iter(onward), None)


def redemption_advance(
    redemption: Redemption,
    *,
    actor: Any,
    tracking_number: str = "",
    expected: str | None = None,
    at: datetime.datetime | None = None,
) -> Redemption:
    """Move a physical gift on: waiting -> shipped (with a tracking number) -> delivered.

    ``expected``: the status the caller saw; if someone moved the gift on meanwhile, it is
    not moved a second step (``StatusChanged``).
    """
    at = at or timezone.now()
    with transaction.atomic():
        redemption = Redemption.objects.select_for_update().get(pk=redemption.pk)
        if expected is not None and redemption.status != expected:
            raise StatusChanged(
                _("It is %(status)s now.") % {"status": redemption.get_status_display()},
                status=redemption.status,
            )
        following = fulfilment_next(redemption.status) or ""
        transition(
            redemption,
            following,
            table=Redemption.MOVES,
            refused=NotCancellable,
            message=_("A redemption that is %(status)s has no next step.")
            % {"status": redemption.get_status_display()},
        )
        if following == Redemption.Status.SHIPPED:
            redemption.tracking_number = tracking_number.strip()
        redemption.updated_at = at
        _record_actor(redemption, actor)
        redemption.save(update_fields=["status", "tracking_number", "updated_at"])
    return redemption


def _record_actor(redemption: Redemption, actor: Any) -> None:
    # the history row of this save names who did it (the admin request sets it there too)
    if getattr(actor, "pk", None):
        redemption._history_user = actor


def reward_update(reward: Reward, *, stock_shown: int | None, actor: Any = None) -> Reward:
    """Save an operator's edit of a reward. A stock change applies as a difference from the
    stock the form showed, under the lock redemptions take, so units redeemed while the form
    was open are not given back."""
    with transaction.atomic():
        current = Reward.objects.select_for_update().values_list("stock", flat=True).get(pk=reward.pk)
        typed = reward.stock
        if typed is not None and stock_shown is not None and current is not None:
            reward.stock = max(0, current + typed - stock_shown)
        elif typed == stock_shown:
            reward.stock = current  # unchanged in the form: keep what redemptions left
        if getattr(actor, "pk", None):
            reward._history_user = actor
        reward.save()
    return reward
