"""Paid membership: subscribing, renewing, cancelling and expiring.

A subscription row is one paid period with its payment reference; a renewal is the next row
(``renewal_of``), starting where the previous one ends. The plan's tier is held while a period
runs, whatever the member earned; the plan's benefits are issued by the benefits app.
Payments themselves happen elsewhere (the payment system): these services record them, from the
payment notice of an API order (``tiers.orders``) or from an operator in the admin. "Renews
automatically" tells the member and the payment side what to expect; a renewal is recorded when
its payment arrives. Ending a period early records the refund its terms give (``tiers.refunds``).
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Member
from points.policy import add_months
from tiers import selectors
from tiers.errors import NotCancellable
from tiers.models import MemberTier, Plan, Subscription, Tier, TierChange, TierPolicy
from tiers.refunds import refunds_for
from tiers.services import REVIEW_BATCH, lock_status, settle


def subscription_start(
    member: Member,
    *,
    plan: Plan,
    payment_ref: str,
    actor: Any = None,
    at: datetime.datetime | None = None,
    price: Decimal | None = None,
    paid_at: datetime.datetime | None = None,
    sold: bool = False,
) -> Subscription:
    """Record a paid period. A member already on the plan gets the next period (a renewal).

    ``price`` is what was paid (the plan's price if not given) and ``paid_at`` when (``at`` if
    not given; not after it). ``sold``: the plan was on sale when it was ordered (an API order),
    so a payment arriving after it was taken off sale is still recorded.
    Idempotent on ``payment_ref``: the same payment recorded twice is one period.
    """
    at = at or timezone.now()
    payment_ref = payment_ref.strip()
    price = Decimal(plan.price if price is None else price)
    paid_at = paid_at or at
    if not payment_ref:
        raise ValidationError({"payment_ref": _("A payment reference is required.")})
    if price < 0:
        raise ValidationError({"price": _("The amount paid cannot be negative.")})
    if paid_at > at:
        raise ValidationError({"paid_at": _("A payment cannot be recorded before it is made.")})
    with transaction.atomic():
        status = _lock(member, at)
        if done := _already(payment_ref, member, plan):
            return done
        if not plan.active and not sold:
            raise ValidationError({"plan": _("%(plan)s is not on sale.") % {"plan": plan.name}})
        latest = (
            Subscription.objects.filter(
                member=member, plan=plan, status=Subscription.Status.ACTIVE, ends_at__gt=at
            )
            .order_by("-ends_at")
            .first()
        )
        if latest is not None and hasattr(latest, "renewal"):
            latest = None  # defensive: the chain's end is the row without a renewal
        starts = latest.ends_at if latest else at
        ends = add_months(starts, plan.duration_months)
        subscription = Subscription.objects.create(
            member=member,
            plan=plan,
            starts_at=starts,
            ends_at=ends,
            paid_until=ends,
            auto_renew=plan.auto_renew,
            price=price,
            payment_ref=payment_ref,
            paid_at=paid_at,
            refund_policy=plan.refund_policy,
            cancellation_fee=plan.cancellation_fee,
            renewal_of=latest,
            actor=actor if getattr(actor, "pk", None) else None,
            created_at=at,
        )
        _grant(status, at, reason=TierChange.Reason.PLAN, note=plan.name, actor=actor)
    return subscription


def subscription_renew(
    subscription: Subscription, *, payment_ref: str, actor: Any = None, at: datetime.datetime | None = None
) -> Subscription:
    """Record the payment for the period after ``subscription``."""
    at = at or timezone.now()
    if subscription.status == Subscription.Status.CANCELLED:
        raise ValidationError(_("A cancelled subscription cannot be renewed; start a new one."))
    return subscription_start(
        subscription.member, plan=subscription.plan, payment_ref=payment_ref, actor=actor, at=at
    )


def subscription_cancel(
    subscription: Subscription,
    *,
    actor: Any,
    reason: str,
    immediately: bool = False,
    at: datetime.datetime | None = None,
) -> Subscription:
    """Stop a subscription renewing; it runs to the end of the paid period.

    ``immediately`` ends it now and takes the plan's tier away at once, with the refund its
    terms give (``tiers.refunds``); a period that has not started yet is cancelled whole, and so
    are the renewals already paid after this period (each would start where it ended).
    """
    at = at or timezone.now()
    if not reason.strip():
        raise ValidationError({"cancel_reason": _("Say why the subscription is cancelled.")})
    with transaction.atomic():
        status = _lock(subscription.member, at)
        # Not locked itself: every write of a subscription (start, cancel, the expiry job) holds
        # its member's tier status first, so this read, after that lock, is already the latest.
        subscription = Subscription.objects.select_related("plan").get(pk=subscription.pk)
        if subscription.status != Subscription.Status.ACTIVE or subscription.ends_at <= at:
            raise NotCancellable(_("Only a running or future subscription can be cancelled."))
        if subscription.cancelled_at is not None and not immediately:
            raise NotCancellable(_("This subscription was already cancelled; it ends with its paid period."))
        if not immediately:
            _mark_cancelled(subscription, actor, reason, at)
            subscription.save()
            return subscription
        chain = _chain_from(subscription, at)
        for period, refund in zip(chain, refunds_for(chain, at), strict=True):
            _mark_cancelled(period, actor, reason, at)
            period.status = Subscription.Status.CANCELLED
            period.ends_at = max(at, period.starts_at + datetime.timedelta(microseconds=1))
            period.refund_amount = refund
            period.save()
        _grant(status, at, reason=TierChange.Reason.PLAN_ENDED, note=reason.strip(), actor=actor)
    return chain[0]


def refund_quote(subscription: Subscription, at: datetime.datetime | None = None) -> Decimal | None:
    """What ending ``subscription`` (and its paid renewals) now would refund; None when it can
    no longer be ended (over, or cancelled already)."""
    at = at or timezone.now()
    if subscription.status != Subscription.Status.ACTIVE or subscription.ends_at <= at:
        return None
    return sum(refunds_for(_chain_from(subscription, at), at), Decimal("0.00"))


def _chain_from(subscription: Subscription, at: datetime.datetime) -> list[Subscription]:
    """The period and the running renewals paid after it, in order."""
    chain = [subscription]
    while (
        following := Subscription.objects.filter(
            renewal_of=chain[-1], status=Subscription.Status.ACTIVE, ends_at__gt=at
        ).first()
    ) is not None:
        chain.append(following)
    return chain


def _mark_cancelled(subscription: Subscription, actor: Any, reason: str, at: datetime.datetime) -> None:
    subscription.auto_renew = False
    subscription.cancelled_at = at
    subscription.cancelled_by = actor if getattr(actor, "pk", None) else None
    subscription.cancel_reason = reason.strip()


def subscriptions_expire_due(now: datetime.datetime | None = None) -> int:
    """Mark ended periods expired and take the plan's tier away from members with no period
    left. Idempotent and safe to run twice at once.

    Locks the members' tier status first (in member order) and the subscriptions second, the
    same order as ``subscription_cancel``, so the job and a cancellation cannot deadlock.
    """
    now = now or timezone.now()
    done = 0
    while True:
        due = list(
            Subscription.objects.filter(status=Subscription.Status.ACTIVE, ends_at__lte=now)
            .order_by("member_id", "id")
            .values_list("pk", "member_id")[:REVIEW_BATCH]
        )
        if not due:
            return done
        with transaction.atomic():
            members = Member.objects.in_bulk({member_id for _pk, member_id in due})
            policy, entry_tier = TierPolicy.current(), selectors.ladder()[0]
            statuses = [lock_status(members[m], now, policy, entry_tier) for m in sorted(members)]
            done += Subscription.objects.filter(
                pk__in=[pk for pk, _member in due], status=Subscription.Status.ACTIVE, ends_at__lte=now
            ).update(status=Subscription.Status.EXPIRED)
            for status in statuses:
                _grant(status, now, reason=TierChange.Reason.PLAN_ENDED)


def running(member_id: int, at: datetime.datetime):
    return Subscription.objects.filter(
        member_id=member_id, status=Subscription.Status.ACTIVE, starts_at__lte=at, ends_at__gt=at
    )


def _lock(member: Member, at: datetime.datetime) -> MemberTier:
    tiers = selectors.ladder()
    return lock_status(member, at, TierPolicy.current(), tiers[0])


def _already(payment_ref: str, member: Member, plan: Plan) -> Subscription | None:
    done = Subscription.objects.filter(payment_ref=payment_ref).first()
    if done is None:
        return None
    if done.member_id != member.pk or done.plan_id != plan.pk:
        raise ValidationError(
            {
                "payment_ref": _("Payment %(ref)s already paid for another subscription.")
                % {"ref": payment_ref}
            }
        )
    return done


def _grant(status: MemberTier, at: datetime.datetime, **record: Any) -> None:
    """Set the plan tier the member holds from their running periods, then settle."""
    best: Tier | None = None
    until = None
    for subscription in running(status.member_id, at).select_related("plan__tier"):
        tier = subscription.plan.tier
        if tier is not None and (best is None or tier.rank > best.rank):
            best = tier
    if best is not None:
        # held through renewals already paid for: the end of the chain of the best plan
        until = (
            Subscription.objects.filter(
                member_id=status.member_id, plan__tier=best, status=Subscription.Status.ACTIVE, ends_at__gt=at
            )
            .order_by("-ends_at")
            .values_list("ends_at", flat=True)
            .first()
        )
    status.plan_tier, status.plan_until = best, until
    by_id = {t.pk: t for t in selectors.ladder()}
    change = settle(status, at, by_id, earned_before=status.earned_tier_id, **record)
    status.save()
    if change:
        change.save()
