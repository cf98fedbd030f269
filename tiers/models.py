"""Tiers (会员等级), the policy that decides them, each member's tier status and its history,
and paid membership plans with their subscriptions.

A member's *effective* tier (``MemberTier.tier``) is worked out from three grants:

- the **earned** tier, from the qualifying metric over the policy's window; it rises at once
  and falls only at the period-end evaluation (``tiers.services.tiers_evaluate_due``);
- a **manual override** (a status match, a goodwill grant, a demotion) with its own end date,
  which wins while it lasts;
- a **paid plan**'s tier while the subscription runs.

Without an override the member has the higher of earned and paid. Members who never moved off
the entry tier have no ``MemberTier`` row: the row is created the first time anything happens.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from config.common.states import Transitions
from members.models import Member
from members.partners.models import Partner


class Tier(models.Model):
    rank = models.PositiveSmallIntegerField(
        _("rank"), unique=True, help_text=_("0 is the entry tier every member starts in; higher is better.")
    )
    code = models.SlugField(_("code"), max_length=32, unique=True, help_text=_("Stable id for the API."))
    name = models.CharField(pgettext_lazy("thing", "name"), max_length=30)
    threshold = models.PositiveBigIntegerField(
        _("qualifying threshold"),
        default=0,
        help_text=_("Growth value (or CNY spent, or purchases, per the policy) needed in the window."),
    )
    earn_multiplier = models.DecimalField(
        _("earn multiplier"),
        max_digits=4,
        decimal_places=2,
        default=1,
        help_text=_("Base points for purchases are multiplied by this (1.50 = ×1.5)."),
    )
    description = models.CharField(_("description"), max_length=200, blank=True)
    # What simple-history's save() reads as the history row's author and reason: services set
    # them before saving when no admin request says who (simple-history has no stubs).
    _history_user: Any
    _change_reason: str

    history = HistoricalRecords(verbose_name=_("historical tier"))

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["rank"]
        constraints = [
            models.CheckConstraint(condition=Q(earn_multiplier__gt=0), name="tier_multiplier_positive"),
            models.CheckConstraint(condition=~Q(rank=0) | Q(threshold=0), name="tier_entry_threshold_zero"),
        ]

    def __str__(self) -> str:
        return self.name


class TierPolicy(models.Model):
    """How tiers are earned and kept. One row (pk 1) for the programme."""

    class Metric(models.TextChoices):
        GROWTH = "growth", _("Growth value earned in the window")
        SPEND = "spend", _("CNY spent in the window (less refunds)")
        PURCHASES = "purchases", _("Purchases in the window (not fully refunded)")

    class Window(models.TextChoices):
        ROLLING = "rolling", _("Rolling 12 months: a tier is held 12 months from when it was reached")
        CALENDAR = "calendar", _("Calendar year: evaluated on 1 January")
        ANNIVERSARY = "anniversary", _("Membership year: evaluated on the registration anniversary")

    class Downgrade(models.TextChoices):
        NEVER = "never", _("Never downgrade")
        ONE_LEVEL = "one_level", _("Down one level at a time")
        TO_QUALIFIED = "to_qualified", _("Straight to the tier still qualified for")

    metric = models.CharField(
        _("qualifying metric"), max_length=12, choices=Metric.choices, default=Metric.GROWTH
    )
    window = models.CharField(_("window"), max_length=12, choices=Window.choices, default=Window.CALENDAR)
    downgrade = models.CharField(
        _("downgrade rule"), max_length=12, choices=Downgrade.choices, default=Downgrade.ONE_LEVEL
    )
    grace_days = models.PositiveSmallIntegerField(
        _("grace period (days)"),
        default=0,
        help_text=_("Days after the period ends to still re-qualify, keeping the tier meanwhile."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    history = HistoricalRecords(verbose_name=_("historical tier policy"), excluded_fields=["updated_at"])

    class Meta:
        verbose_name = _("tier policy")
        verbose_name_plural = _("tier policy")
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="tierpolicy_single_row")]

    def __str__(self) -> str:
        return str(_("Tier policy"))

    @classmethod
    def current(cls) -> TierPolicy:
        """The policy (its row comes with the tiers migration; the defaults if someone deleted it)."""
        return cls.objects.filter(pk=1).first() or cls(pk=1)


class Source(models.TextChoices):
    EARNED = "earned", _("Earned")
    OVERRIDE = "override", _("Manual override")
    PLAN = "plan", _("Paid plan")


class MemberTier(models.Model):
    """A member's tier status: what they have now, why, and the period being qualified for."""

    member = models.OneToOneField(
        Member,
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        primary_key=True,
        related_name="tier_status",
    )
    tier = models.ForeignKey(Tier, verbose_name=_("tier"), on_delete=models.PROTECT, related_name="+")
    source = models.CharField(_("from"), max_length=10, choices=Source.choices, default=Source.EARNED)
    since = models.DateTimeField(_("since"))
    # No index on the tier references but ``tier``: the review rewrites every row once a year,
    # and each index is written again for each row (tests/benchmarks/tier_review.py).
    earned_tier = models.ForeignKey(
        Tier, verbose_name=_("earned tier"), on_delete=models.PROTECT, related_name="+", db_index=False
    )
    period_start = models.DateTimeField(_("qualification period from"))
    valid_until = models.DateTimeField(
        _("evaluated at"), help_text=_("End of the qualification period: the earned tier is reviewed then.")
    )
    override_tier = models.ForeignKey(
        Tier,
        verbose_name=_("override tier"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    override_until = models.DateTimeField(_("override until"), null=True, blank=True)
    override_reason = models.CharField(_("override reason"), max_length=200, blank=True)
    plan_tier = models.ForeignKey(
        Tier,
        verbose_name=_("paid plan tier"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    plan_until = models.DateTimeField(_("paid plan until"), null=True, blank=True)

    class Meta:
        verbose_name = _("member tier")
        verbose_name_plural = _("member tiers")
        indexes = [
            models.Index(fields=["valid_until"], name="membertier_due"),
            models.Index(
                fields=["override_until"],
                name="membertier_override_due",
                condition=Q(override_until__isnull=False),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(override_tier__isnull=True) | Q(override_until__isnull=False),
                name="membertier_override_has_end",
            )
        ]

    def __str__(self) -> str:
        return str(self.tier)


class TierChange(models.Model):
    """One change of a member's tier (effective or earned), with the reason. Append-only."""

    class Reason(models.TextChoices):
        UPGRADE = "upgrade", _("Qualified for a higher tier")
        DOWNGRADE = "downgrade", _("Period-end evaluation: did not re-qualify")
        OVERRIDE = "override", _("Manual override")
        OVERRIDE_ENDED = "override_ended", _("Manual override ended")
        PLAN = "plan", _("Paid plan started")
        PLAN_ENDED = "plan_ended", _("Paid plan ended")
        MERGE = "merge", _("Member merge")
        MIGRATION = "migration", _("Moved in from the old system")

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="tier_changes"
    )
    from_tier = models.ForeignKey(
        Tier, verbose_name=_("from tier"), on_delete=models.PROTECT, related_name="+", null=True
    )
    to_tier = models.ForeignKey(Tier, verbose_name=_("to tier"), on_delete=models.PROTECT, related_name="+")
    earned_tier = models.ForeignKey(
        Tier, verbose_name=_("earned tier"), on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    metric = models.BigIntegerField(_("qualifying value"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["member", "-at"], name="tierchange_member_recent"),
            models.Index(fields=["at"], name="tierchange_time"),  # the insight rollups' day
        ]

    def __str__(self) -> str:
        return f"{self.from_tier or '—'} → {self.to_tier}"


class RefundPolicy(models.TextChoices):
    """What a member gets back when a paid period is ended early (``tiers.refunds``)."""

    NONE = "none", _("No refund")
    DAYS = "days", _("Pro rata by unused days")
    MONTHS = "months", _("Pro rata by whole unused months")


class Plan(models.Model):
    """A paid membership (付费会员): bought for a price, lasts a number of months."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(pgettext_lazy("thing", "name"), max_length=50)
    price = models.DecimalField(_("price (CNY)"), max_digits=10, decimal_places=2)
    duration_months = models.PositiveSmallIntegerField(_("duration (months)"), default=12)
    tier = models.ForeignKey(
        Tier,
        verbose_name=_("tier granted"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="plans",
        help_text=_("Members on the plan hold at least this tier, whatever they earned."),
    )
    auto_renew = models.BooleanField(
        _("renews automatically"),
        default=True,
        help_text=_("New subscriptions renew at the end of each period unless the member cancels."),
    )
    active = models.BooleanField(_("on sale"), default=True)
    refund_policy = models.CharField(
        _("refund on early cancellation"),
        max_length=8,
        choices=RefundPolicy.choices,
        default=RefundPolicy.NONE,
        help_text=_("Given back when a period ends early; each period keeps the terms it was sold with."),
    )
    cancellation_fee = models.DecimalField(
        _("cancellation fee (CNY)"),
        max_digits=10,
        decimal_places=2,
        default=0,
        help_text=_("Kept from a pro-rata refund (a refund never goes below zero)."),
    )
    history = HistoricalRecords(verbose_name=_("historical paid plan"))

    class Meta:
        verbose_name = _("paid plan")
        verbose_name_plural = _("paid plans")
        ordering = ["price", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="plan_price_not_negative"),
            models.CheckConstraint(condition=Q(duration_months__gt=0), name="plan_duration_positive"),
            models.CheckConstraint(condition=Q(cancellation_fee__gte=0), name="plan_fee_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name


class Subscription(models.Model):
    """One paid period of a plan for a member. A renewal is the next row, with its own payment."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Running")
        CANCELLED = "cancelled", _("Cancelled")
        EXPIRED = "expired", _("Expired")

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="subscriptions"
    )
    plan = models.ForeignKey(
        Plan, verbose_name=_("plan"), on_delete=models.PROTECT, related_name="subscriptions"
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    auto_renew = models.BooleanField(_("renews automatically"), default=False)
    price = models.DecimalField(_("price paid (CNY)"), max_digits=10, decimal_places=2)
    payment_ref = models.CharField(
        _("payment reference"), max_length=64, unique=True, help_text=_("One payment pays for one period.")
    )
    paid_at = models.DateTimeField(_("paid at"), help_text=_("When the payment was made (finance's date)."))
    paid_until = models.DateTimeField(
        _("paid until"),
        help_text=_("The end the payment paid for; the period's end stays here when it is ended early."),
    )
    # the terms it was sold with: a plan's policy changed later does not change them
    refund_policy = models.CharField(
        _("refund on early cancellation"),
        max_length=8,
        choices=RefundPolicy.choices,
        default=RefundPolicy.NONE,
    )
    cancellation_fee = models.DecimalField(
        _("cancellation fee (CNY)"), max_digits=10, decimal_places=2, default=0
    )
    refund_amount = models.DecimalField(
        _("refund (CNY)"),
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_(
            "What is owed back to the member for the period ended early (paid out by the payment side)."
        ),
    )
    renewal_of = models.OneToOneField(
        "self",
        verbose_name=_("renews"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="renewal",
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("cancelled by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    cancel_reason = models.CharField(_("cancel reason"), max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"))

    history = HistoricalRecords(verbose_name=_("historical subscription"))

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ["-starts_at", "-id"]
        indexes = [
            models.Index(fields=["member", "-ends_at"], name="subscription_member"),
            models.Index(fields=["ends_at"], name="subscription_due", condition=Q(status="active")),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="sub_period"),
            models.CheckConstraint(condition=Q(paid_until__gt=models.F("starts_at")), name="sub_paid_period"),
            models.CheckConstraint(
                condition=Q(refund_amount__isnull=True)
                | Q(refund_amount__gte=0, refund_amount__lte=models.F("price")),
                name="sub_refund_within_price",
            ),
        ]
        permissions = [("view_deferred_revenue", _("Can see the membership fee revenue report"))]

    def __str__(self) -> str:
        return f"{self.plan} {self.starts_at:%Y-%m-%d}–{self.ends_at:%Y-%m-%d}"


class PlanOrder(models.Model):
    """A plan ordered through the API by a partner (the brand's app) and waiting for, or paid by,
    the payment the brand's payment system reports (``tiers.orders``). A paid order is one
    subscription period; its price is the plan's when it was ordered."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for payment")
        PAID = "paid", _("Paid")
        CANCELLED = "cancelled", _("Cancelled before payment")
        EXPIRED = "expired", _("Expired unpaid")

    #: A late payment of an expired order is still recorded (the customer paid), unless the
    #: partner cancelled the order: then its payment is refused.
    MOVES = Transitions(
        {
            Status.PENDING: (Status.PAID, Status.CANCELLED, Status.EXPIRED),
            Status.EXPIRED: (Status.PAID, Status.CANCELLED),
        }
    )

    order_number = models.CharField(_("order number"), max_length=32, unique=True)
    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.PROTECT, related_name="plan_orders"
    )
    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="plan_orders"
    )
    plan = models.ForeignKey(Plan, verbose_name=_("plan"), on_delete=models.PROTECT, related_name="orders")
    amount = models.DecimalField(_("amount (CNY)"), max_digits=10, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(_("created at"))
    expires_at = models.DateTimeField(_("pay before"))
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    payment_ref = models.CharField(_("payment reference"), max_length=64, null=True, blank=True, unique=True)
    subscription = models.OneToOneField(
        Subscription,
        verbose_name=_("subscription"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="order",
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancel_reason = models.CharField(_("cancel reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("plan order")
        verbose_name_plural = _("plan orders")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["member", "-created_at"], name="planorder_member"),
            models.Index(fields=["expires_at"], name="planorder_due", condition=Q(status="pending")),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="planorder_amount_not_negative"),
            models.CheckConstraint(
                condition=~Q(status="paid") | Q(payment_ref__isnull=False, subscription__isnull=False),
                name="planorder_paid_has_payment",
            ),
        ]

    def __str__(self) -> str:
        return self.order_number
