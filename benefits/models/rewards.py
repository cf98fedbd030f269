"""Rewards bought with points, and their redemptions."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

#: Undoing a redemption at the till is a same-day matter (the counter lists a day's redemptions);
#: a cancelled order undoes one at any time.
from benefits.models.catalogue import Benefit
from benefits.models.coupons import Coupon
from config.common.states import Transitions
from members.models import Member
from points.models import Entry
from tiers.models import Tier


class Reward(models.Model):
    """Something members buy with points (积分商城)."""

    class Kind(models.TextChoices):
        COUPON = "coupon", _("Coupon")
        PHYSICAL = "physical", _("Physical gift (shipped or picked up)")
        CASH = "cash", _("Cash deduction voucher")

    name = models.CharField(pgettext_lazy("thing", "name"), max_length=60)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    points_price = models.PositiveIntegerField(_("price in points"))
    stock = models.PositiveIntegerField(
        _("stock"), null=True, blank=True, help_text=_("Units left; empty means unlimited.")
    )
    per_member_limit = models.PositiveSmallIntegerField(
        _("limit per member"), null=True, blank=True, help_text=_("Empty means no limit.")
    )
    min_tier = models.ForeignKey(
        Tier,
        verbose_name=_("tier required"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Members below this tier cannot redeem it."),
    )
    benefit = models.ForeignKey(
        Benefit,
        verbose_name=_("coupon issued"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rewards",
        help_text=_("For coupon and cash rewards: the coupon the member receives."),
    )
    valid_from = models.DateTimeField(_("on offer from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("on offer until"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)
    # What simple-history's save() reads as the history row's author and reason: services set
    # them before saving when no admin request says who (simple-history has no stubs).
    _history_user: Any
    _change_reason: str

    history = HistoricalRecords(verbose_name=_("historical reward"))

    class Meta:
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        ordering = ["points_price", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(points_price__gt=0), name="reward_price_positive"),
            models.CheckConstraint(
                condition=Q(kind="physical") | Q(benefit__isnull=False), name="reward_coupon_has_benefit"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Redemption(models.Model):
    """A member bought a reward with points. Physical gifts go through fulfilment."""

    class Status(models.TextChoices):
        COMPLETED = "completed", _("Completed")
        REQUESTED = "requested", _("Waiting for fulfilment")
        SHIPPED = "shipped", _("Shipped")
        DELIVERED = "delivered", _("Delivered")
        CANCELLED = "cancelled", _("Cancelled (points refunded)")

    #: Every move of a redemption. A coupon reward is completed at once, a physical gift waits
    #: for fulfilment, is shipped, then delivered; cancelling refunds the points, and is possible
    #: only before the gift ships (or its coupon is used, which ``redemption_cancel`` checks).
    MOVES = Transitions(
        {
            Status.REQUESTED: (Status.SHIPPED, Status.CANCELLED),
            Status.SHIPPED: (Status.DELIVERED,),
            Status.COMPLETED: (Status.CANCELLED,),
        }
    )

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="redemptions"
    )
    reward = models.ForeignKey(
        Reward, verbose_name=_("reward"), on_delete=models.PROTECT, related_name="redemptions"
    )
    points = models.PositiveIntegerField(_("points paid"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    spend = models.OneToOneField(
        Entry, verbose_name=_("points entry"), on_delete=models.PROTECT, related_name="+"
    )
    refund = models.OneToOneField(
        Entry,
        verbose_name=_("refund entry"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    coupon = models.OneToOneField(
        Coupon,
        verbose_name=_("coupon"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="redemption",
    )
    ship_to = models.CharField(_("deliver to"), max_length=200, blank=True)
    tracking_number = models.CharField(_("tracking number"), max_length=40, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, unique=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("exchanged at"))
    updated_at = models.DateTimeField(_("updated at"))
    note = models.CharField(_("note"), max_length=200, blank=True)

    # What simple-history's save() reads as the history row's author and reason: services set
    # them before saving when no admin request says who (simple-history has no stubs).
    _history_user: Any
    _change_reason: str

    history = HistoricalRecords(verbose_name=_("historical redemption"))

    class Meta:
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["member", "reward"], name="redemption_member_reward"),
            models.Index(fields=["created_at"], name="redemption_time"),  # the insight rollups' day
            models.Index(
                fields=["created_at"],
                name="redemption_fulfilment_queue",
                condition=Q(status__in=["requested", "shipped"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reward} · {self.get_status_display()}"
