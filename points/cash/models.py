"""Points as cash at checkout (积分抵现): the operator's rule per point type, the holds a till
takes while the customer pays, and what refunds gave back.

A hold is a spend: holding posts a ``spend`` entry (soonest-expiring lots first, with its
allocations), so held points leave the member's spendable balance at once and every ledger
invariant holds as for any spend. Capturing writes no entry (the points left already): the hold
row says which purchase they paid. Releasing posts a ``refund`` of the whole hold, and a refund of
the purchase a ``refund`` of its share; both give points back into lots with the expiry dates
they had (see ``points.cash.services``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from config.common.states import Transitions
from members.models import Channel, Member, Store
from members.partners.models import Partner
from members.purchases.models import Purchase, Refund
from points.models import Entry, PointType


class CashRule(models.Model):
    """How a point type may pay at checkout: value, limits, where, and how long a hold lasts.

    The value of a point is the point type's own (``PointType.cny_value``: 0.01 CNY, so 100 积分 =
    1 CNY). Points are used in steps worth ``step`` CNY (1.00: whole yuan), so a step must be a
    whole number of points. Growth value (not redeemable) has no rule.
    """

    point_type = models.OneToOneField(
        PointType,
        verbose_name=_("point type"),
        on_delete=models.PROTECT,
        related_name="cash_rule",
        limit_choices_to={"redeemable": True},
    )
    active = models.BooleanField(
        _("active"), default=False, help_text=_("Tills may take these points as payment.")
    )
    step = models.DecimalField(
        _("step (CNY)"),
        max_digits=8,
        decimal_places=2,
        default=Decimal("1.00"),
        help_text=_("Points are used in steps worth this much: 1.00 = whole yuan only."),
    )
    max_share = models.PositiveSmallIntegerField(
        _("most of the order (%)"),
        default=50,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("The largest share of an order (less its excluded lines) points may pay."),
    )
    min_balance = models.PositiveIntegerField(
        _("minimum balance"),
        default=0,
        help_text=_("Members need at least this many spendable points to pay with any."),
    )
    excluded_categories = models.JSONField(
        _("excluded categories"), default=list, blank=True, help_text=_("Lines in these categories.")
    )
    excluded_skus = models.JSONField(
        _("excluded SKUs"), default=list, blank=True, help_text=_("Lines of these SKUs.")
    )
    channels = models.JSONField(_("channels"), default=list, blank=True, help_text=_("Empty: every channel."))
    stores = models.ManyToManyField(
        Store, verbose_name=_("stores"), blank=True, related_name="+", help_text=_("Empty: every store.")
    )
    hold_minutes = models.PositiveSmallIntegerField(
        _("hold time (minutes)"),
        default=15,
        validators=[MinValueValidator(1), MaxValueValidator(1440)],
        help_text=_("A hold the till neither captures nor releases is released after this long."),
    )

    # What simple-history's save() reads as the history row's author.
    _history_user: Any
    history = HistoricalRecords(verbose_name=_("historical points-as-cash rule"), m2m_fields=[stores])

    class Meta:
        verbose_name = _("points-as-cash rule")
        verbose_name_plural = _("points-as-cash rules")
        ordering = ["point_type"]
        constraints = [
            models.CheckConstraint(condition=Q(step__gt=0), name="cashrule_step_positive"),
            models.CheckConstraint(
                condition=Q(max_share__gte=1, max_share__lte=100), name="cashrule_share_in_range"
            ),
            models.CheckConstraint(
                condition=Q(hold_minutes__gte=1, hold_minutes__lte=1440), name="cashrule_hold_in_range"
            ),
        ]

    def __str__(self) -> str:
        return str(self.point_type)

    def step_points(self, point_type: PointType | None = None) -> int | None:
        """Points in one step (``step`` / value of a point), or None when that is not a whole
        number of points (or the point type has no value)."""
        value = (point_type or self.point_type).cny_value
        if not value or value <= 0:
            return None
        points = self.step / value
        return int(points) if points == points.to_integral_value() and points >= 1 else None

    def clean(self) -> None:
        if self.point_type_id is None:
            return
        if not self.point_type.redeemable:
            raise ValidationError({"point_type": _("Only points that can be spent can pay at checkout.")})
        if self.step and self.step_points() is None:
            raise ValidationError(
                {
                    "step": _(
                        "A step of %(step)s CNY is not a whole number of points at %(value)s CNY a point."
                    )
                    % {"step": self.step, "value": self.point_type.cny_value}
                }
            )
        unknown = [c for c in self.channels or [] if c not in Channel.values]
        if unknown:
            raise ValidationError({"channels": _("Unknown channel %(channel)s.") % {"channel": unknown[0]}})


class Hold(models.Model):
    """Points a till holds while the customer pays: spent from the member's account when held,
    then captured with the purchase they paid, or released (by the till, an operator, or the job
    once ``expires_at`` has passed)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Held")
        CAPTURED = "captured", _("Captured (paid)")
        RELEASED = "released", _("Released")

    class Why(models.TextChoices):
        TILL = "till", _("Released by the till")
        EXPIRED = "expired", _("Expired")
        OPERATOR = "operator", _("Released by an operator")

    MOVES = Transitions({Status.ACTIVE: (Status.CAPTURED, Status.RELEASED)})

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="cash_holds"
    )
    point_type = models.ForeignKey(
        PointType, verbose_name=_("point type"), on_delete=models.PROTECT, related_name="+"
    )
    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    store = models.ForeignKey(
        Store, verbose_name=_("store"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    reference = models.CharField(
        _("till reference"), max_length=64, blank=True, help_text=_("The till's own number for the sale.")
    )
    points = models.PositiveIntegerField(_("points"))
    value = models.DecimalField(_("value (CNY)"), max_digits=12, decimal_places=2)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(_("held at"))
    expires_at = models.DateTimeField(_("held until"))
    captured_at = models.DateTimeField(_("captured at"), null=True, blank=True)
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    release_reason = models.CharField(_("why released"), max_length=10, choices=Why.choices, blank=True)
    purchase = models.OneToOneField(
        Purchase,
        verbose_name=_("purchase"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="points_hold",
    )
    entry = models.OneToOneField(
        Entry, verbose_name=_("spend entry"), on_delete=models.PROTECT, null=True, related_name="+"
    )
    release_entry = models.OneToOneField(
        Entry,
        verbose_name=_("release entry"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, unique=True)
    fingerprint = models.CharField(_("request fingerprint"), max_length=64, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("points hold")
        verbose_name_plural = _("points holds")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(points__gt=0), name="hold_points_positive"),
            models.CheckConstraint(
                condition=~Q(status="captured") | Q(purchase__isnull=False), name="hold_captured_has_purchase"
            ),
        ]
        indexes = [
            # the release job: active holds past their time
            models.Index(fields=["expires_at"], name="hold_active_due", condition=Q(status="active")),
            models.Index(fields=["member", "-id"], name="hold_member_recent"),
            # the finance report: captured holds by day
            models.Index(fields=["captured_at"], name="hold_captured_time", condition=Q(status="captured")),
        ]
        permissions = [("view_cash_report", _("Can see the points-as-cash report"))]

    def __str__(self) -> str:
        return f"#{self.pk} {self.points}"

    @property
    def release_why(self) -> str | None:
        """Why it was released; None while it was not."""
        return self.release_reason or None


class HoldRefund(models.Model):
    """What a refund of a purchase paid partly with points gave back of its hold (once per refund;
    ``points`` may be 0 when the share rounds down to nothing)."""

    hold = models.ForeignKey(Hold, verbose_name=_("hold"), on_delete=models.PROTECT, related_name="refunds")
    refund = models.OneToOneField(
        Refund, verbose_name=_("refund"), on_delete=models.PROTECT, related_name="points_hold_refund"
    )
    points = models.PositiveIntegerField(_("points given back"))
    value = models.DecimalField(_("value (CNY)"), max_digits=12, decimal_places=2)
    entry = models.OneToOneField(
        Entry,
        verbose_name=_("refund entry"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("given back at"))

    class Meta:
        verbose_name = _("points given back by a refund")
        verbose_name_plural = _("points given back by refunds")
        ordering = ["-id"]
        indexes = [models.Index(fields=["created_at"], name="holdrefund_time")]

    def __str__(self) -> str:
        return f"{self.points}"
