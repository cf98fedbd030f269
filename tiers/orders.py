"""Selling a plan (付费会员) through the API: the brand's app orders it for a member, the customer
pays in the brand's payment system, which reports the payment with a signed notice; the notice
records the paid period (``subscription_start``, the one entry point the admin uses too).

- An order (``plan_order_create``) holds the plan's price when ordered, in CNY, and waits
  ``PLAN_ORDER_MINUTES`` for its payment; then it expires (``plan_orders_expire_due``). A payment
  that still arrives for an expired order is recorded: the customer paid.
- The notice (``plan_payment_record``) is idempotent on the payment reference: the same notice
  again answers the same order and records nothing more. Its amount must be the order's.
- Races: every path that records or ends a period holds the member's tier status first
  (``tiers.subscriptions``); an order moves by a conditional UPDATE from the statuses its table
  allows (``PlanOrder.MOVES``), so a cancellation and a payment of the same order cannot both
  win: the loser's transaction is refused and rolls back.
"""

from __future__ import annotations

import datetime
import secrets
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.common import outbox
from config.common.errors import Conflict
from config.common.states import transition
from members.errors import MemberClosed
from members.models import Member
from members.partners.models import Partner
from tiers.errors import AmountMismatch, OrderAlreadyPaid, OrderCancelled
from tiers.models import Plan, PlanOrder, Subscription
from tiers.subscriptions import subscription_cancel, subscription_start

CURRENCY = "CNY"
#: The header a payment notice is signed in, as the webhooks' (docs/api.md, "Selling a paid plan").
SIGNATURE_HEADER = "X-Loyalty-Signature"


def plan_order_create(
    *, partner: Partner, member: Member, plan: Plan, at: datetime.datetime | None = None
) -> PlanOrder:
    """A pending order of ``plan`` for ``member`` at the plan's price now."""
    at = at or timezone.now()
    if not plan.active:
        raise ValidationError({"plan": _("%(plan)s is not on sale.") % {"plan": plan.name}})
    if member.status != Member.Status.ACTIVE:
        raise MemberClosed(_("This member is not active: no plan is sold to them."), field="member_number")
    while True:
        try:
            with transaction.atomic():
                return PlanOrder.objects.create(
                    order_number=_order_number(at),
                    partner=partner,
                    member=member,
                    plan=plan,
                    amount=plan.price,
                    currency=CURRENCY,
                    created_at=at,
                    expires_at=at + datetime.timedelta(minutes=settings.PLAN_ORDER_MINUTES),
                )
        except IntegrityError:  # the number was drawn before (one in 10^10 a day): draw again
            continue


def _order_number(at: datetime.datetime) -> str:
    """``PO`` + the local date + 10 random digits: not guessable, readable on a phone call."""
    return f"PO{timezone.localdate(at):%Y%m%d}{secrets.randbelow(10**10):010d}"


def order_status(order: PlanOrder, now: datetime.datetime | None = None) -> str:
    """The order's status as of now: a pending order past its time is expired before the job
    that marks it has run."""
    now = now or timezone.now()
    if order.status == PlanOrder.Status.PENDING and order.expires_at <= now:
        return PlanOrder.Status.EXPIRED
    return order.status


def plan_order_cancel(
    order: PlanOrder,
    *,
    actor: Any,
    reason: str,
    immediately: bool = False,
    at: datetime.datetime | None = None,
) -> PlanOrder:
    """A pending or expired order is cancelled (a payment for it will be refused); a paid one
    cancels its subscription: renewal stops, or with ``immediately`` it ends now with its refund.
    A cancelled one is refused (``TransitionRefused``)."""
    at = at or timezone.now()
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the order is cancelled.")})
    with transaction.atomic():
        moved = PlanOrder.objects.filter(PlanOrder.MOVES.may_move_to(PlanOrder.Status.CANCELLED), pk=order.pk)
        if moved.update(status=PlanOrder.Status.CANCELLED, cancelled_at=at, cancel_reason=reason.strip()):
            return PlanOrder.objects.get(pk=order.pk)
        order = PlanOrder.objects.select_related("subscription").get(pk=order.pk)
        if order.status != PlanOrder.Status.PAID:
            transition(
                order,
                PlanOrder.Status.CANCELLED,
                table=PlanOrder.MOVES,
                message=_("Order %(number)s is %(status)s: it cannot be cancelled.")
                % {"number": order.order_number, "status": order.get_status_display()},
            )
        assert order.subscription is not None  # a paid order has its period (a check constraint)
        subscription_cancel(order.subscription, actor=actor, reason=reason, immediately=immediately, at=at)
    return PlanOrder.objects.select_related("subscription").get(pk=order.pk)


def plan_payment_record(
    *,
    order_number: str,
    payment_ref: str,
    amount: Decimal,
    paid_at: datetime.datetime,
    currency: str = CURRENCY,
    at: datetime.datetime | None = None,
) -> PlanOrder:
    """The payment the brand's payment system reports for an order: its period is recorded and
    the order paid, once. The same payment again returns the order as it is.

    Refused, recording nothing: an unknown order (``PlanOrder.DoesNotExist``), an amount or
    currency that is not the order's (``AmountMismatch``), a cancelled order
    (``OrderCancelled``), an order paid by another payment (``OrderAlreadyPaid``), a payment
    reference recorded for something else (``Conflict``).
    """
    at = at or timezone.now()
    payment_ref = payment_ref.strip()
    with transaction.atomic():
        order = PlanOrder.objects.select_related("plan", "member", "partner__user").get(
            order_number=order_number
        )
        if currency != order.currency or amount != order.amount:
            raise AmountMismatch(
                _("The order is %(amount)s %(currency)s; the notice says %(paid)s %(paid_currency)s.")
                % {
                    "amount": order.amount,
                    "currency": order.currency,
                    "paid": amount,
                    "paid_currency": currency,
                },
                field="amount",
            )
        if order.payment_ref == payment_ref:
            return order  # the same notice again
        if paid_at < order.created_at - outbox.REPLAY_WINDOW:  # the two clocks may differ a little
            raise ValidationError({"paid_at": _("A payment cannot be made before its order.")})
        _refuse_unpayable(order)
        # The reference may pay this very period already (an operator recorded it in the admin
        # first): that period becomes the order's. Anything else it paid is a conflict.
        recorded = Subscription.objects.filter(payment_ref=payment_ref).first()
        elsewhere = recorded is not None and (recorded.member_id, recorded.plan_id, recorded.price) != (
            order.member_id,
            order.plan_id,
            order.amount,
        )
        if elsewhere or PlanOrder.objects.filter(payment_ref=payment_ref).exists():
            raise Conflict(
                _("Payment %(ref)s is recorded for another order or subscription.") % {"ref": payment_ref},
                field="payment_ref",
            )
        subscription = subscription_start(
            order.member,
            plan=order.plan,
            payment_ref=payment_ref,
            price=order.amount,
            paid_at=min(paid_at, at),
            actor=order.partner.user,
            at=at,
            sold=True,
        )
        # Under the member's status lock now, so a copy of this notice running at the same time
        # found this period above (``subscription_start`` is idempotent on the reference) and
        # finds the order paid here. A cancellation takes no such lock and may have won: then
        # this payment is refused and its period rolled back.
        paid = PlanOrder.objects.filter(
            PlanOrder.MOVES.may_move_to(PlanOrder.Status.PAID), pk=order.pk
        ).update(
            status=PlanOrder.Status.PAID,
            payment_ref=payment_ref,
            paid_at=min(paid_at, at),
            subscription=subscription,
        )
        if not paid:  # cancelled, or paid meanwhile (by this same notice sent twice at once?)
            current = PlanOrder.objects.get(pk=order.pk)
            if current.payment_ref != payment_ref:
                _refuse_unpayable(current)
    return PlanOrder.objects.select_related("plan", "member", "subscription").get(pk=order.pk)


def _refuse_unpayable(order: PlanOrder) -> None:
    if order.status == PlanOrder.Status.CANCELLED:
        raise OrderCancelled(
            _("Order %(number)s was cancelled: refund this payment.") % {"number": order.order_number},
            field="order_number",
        )
    if order.status == PlanOrder.Status.PAID:
        raise OrderAlreadyPaid(
            _("Order %(number)s was paid by %(ref)s already: refund this payment.")
            % {"number": order.order_number, "ref": order.payment_ref},
            field="payment_ref",
        )


def plan_orders_expire_due(now: datetime.datetime | None = None) -> int:
    """Pending orders past their time expire (one UPDATE; safe to run twice at once)."""
    now = now or timezone.now()
    return PlanOrder.objects.filter(
        PlanOrder.MOVES.may_move_to(PlanOrder.Status.EXPIRED), expires_at__lte=now
    ).update(status=PlanOrder.Status.EXPIRED)


def notice_signature_valid(body: bytes, header: str, now: datetime.datetime | None = None) -> bool:
    """``X-Loyalty-Signature: t=<unix>,v1=<hex>``: HMAC-SHA256 of ``"<t>.<body>"`` with
    ``PAYMENT_NOTIFY_SECRET`` (or, while a rotation is under way, the previous secret), ``t``
    within five minutes of now. No secret set: every notice is refused."""
    fields = [part.strip().split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [value for key, value in fields if key == "t"]
    if len(stamps) != 1 or not outbox.signature_fresh(stamps[0], now or timezone.now()):
        return False
    keys = [key for key in (settings.PAYMENT_NOTIFY_SECRET, settings.PAYMENT_NOTIFY_PREVIOUS_SECRET) if key]
    expected = [outbox.signature(key, stamps[0], body) for key in keys]
    return any(
        secrets.compare_digest(mine, value) for mine in expected for key, value in fields if key == "v1"
    )
