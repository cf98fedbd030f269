"""What members did: purchases, their lines and refunds, and behaviour events. Each fact is
stored once per source number; the earning pipeline (campaigns/earning) reads them."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from members.models import Channel, Member, Store


class Purchase(models.Model):
    """A receipt or an order, stored once per source: (source, order number) is unique, so a
    re-sent order or a re-imported file never counts twice.

    Eligible for points: ``paid_amount`` less what earns nothing (shipping, the part paid with
    gift cards, the part paid with points), never below zero.
    """

    class Status(models.TextChoices):
        COMPLETED = "completed", _("Completed")
        PARTLY_REFUNDED = "partly_refunded", _("Partly refunded")
        REFUNDED = "refunded", _("Refunded")

    source = models.CharField(
        _("source"), max_length=40, help_text=_("The system that sent it: a POS, a shop, a partner.")
    )
    order_number = models.CharField(_("order number"), max_length=64)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    store = models.ForeignKey(
        Store,
        verbose_name=_("store"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="purchases",
    )
    member = models.ForeignKey(
        Member,
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="purchases",
        db_index=False,  # purchase_member_time leads with the member
    )
    occurred_at = models.DateTimeField(_("occurred at"))
    gross_amount = models.DecimalField(_("gross amount (CNY)"), max_digits=12, decimal_places=2)
    paid_amount = models.DecimalField(_("paid amount (CNY)"), max_digits=12, decimal_places=2)
    shipping_amount = models.DecimalField(_("shipping (CNY)"), max_digits=12, decimal_places=2, default=0)
    gift_card_amount = models.DecimalField(
        _("paid by gift card (CNY)"), max_digits=12, decimal_places=2, default=0
    )
    points_amount = models.DecimalField(
        _("paid with points (CNY)"), max_digits=12, decimal_places=2, default=0
    )
    refunded_amount = models.DecimalField(_("refunded (CNY)"), max_digits=12, decimal_places=2, default=0)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.COMPLETED)
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        constraints = [
            models.UniqueConstraint(fields=["source", "order_number"], name="purchase_once_per_source"),
            models.CheckConstraint(
                condition=Q(
                    paid_amount__gte=0, shipping_amount__gte=0, gift_card_amount__gte=0, points_amount__gte=0
                )
                & Q(gross_amount__gte=models.F("paid_amount")),
                name="purchase_amounts",
            ),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=models.F("paid_amount")),
                name="purchase_refunded_in_range",
            ),
        ]
        indexes = [
            # a member's purchases in a window, with the amounts: segments on spend and RFM scoring
            # sum them from the index alone, in member order (no purchase rows, no hash to spill)
            models.Index(
                fields=["member", "occurred_at"],
                name="purchase_member_time",
                include=["paid_amount", "refunded_amount"],
            ),
            # the insight rollups read one local day of facts at a time (campaigns/insight/rollups.py)
            models.Index(fields=["occurred_at"], name="purchase_time"),
        ]
        permissions = [("export_purchase", _("Can export purchases"))]

    def __str__(self) -> str:
        return f"{self.source} {self.order_number}"

    @property
    def eligible_amount(self):
        return max(self.paid_amount - self.shipping_amount - self.gift_card_amount - self.points_amount, 0)


class PurchaseLine(models.Model):
    purchase = models.ForeignKey(
        Purchase, verbose_name=_("purchase"), on_delete=models.CASCADE, related_name="lines"
    )
    sku = models.CharField(_("SKU"), max_length=64)
    name = models.CharField(_("item"), max_length=100, blank=True)
    category = models.CharField(_("category"), max_length=64, blank=True)
    quantity = models.DecimalField(_("quantity"), max_digits=10, decimal_places=3, default=1)
    amount = models.DecimalField(_("amount (CNY)"), max_digits=12, decimal_places=2)

    class Meta:
        verbose_name = _("purchase line")
        verbose_name_plural = _("purchase lines")

    def __str__(self) -> str:
        return self.sku


class Refund(models.Model):
    """Money given back on a purchase, stored once per source (a re-sent refund counts once)."""

    purchase = models.ForeignKey(
        Purchase, verbose_name=_("purchase"), on_delete=models.PROTECT, related_name="refunds"
    )
    source = models.CharField(_("source"), max_length=40)
    refund_number = models.CharField(_("refund number"), max_length=64)
    amount = models.DecimalField(_("amount (CNY)"), max_digits=12, decimal_places=2)
    occurred_at = models.DateTimeField(_("occurred at"))
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        # the insight rollups read one local day of facts at a time (campaigns/insight/rollups.py)
        indexes = [models.Index(fields=["occurred_at"], name="refund_time")]
        constraints = [
            models.UniqueConstraint(fields=["source", "refund_number"], name="refund_once_per_source"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.refund_number}"


class EventType(models.Model):
    """A kind of behaviour that can earn (registration, daily sign-in, review, ...): operators add more."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=50)
    active = models.BooleanField(_("active"), default=True)

    history = HistoricalRecords(verbose_name=_("historical event type"))

    class Meta:
        verbose_name = _("event type")
        verbose_name_plural = _("event types")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class MemberEvent(models.Model):
    """One behaviour fact. ``key`` makes it count once (e.g. ``signin:2026-11-22``, a review id)."""

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="events"
    )
    event_type = models.ForeignKey(
        EventType, verbose_name=_("event type"), on_delete=models.PROTECT, related_name="+"
    )
    key = models.CharField(_("key"), max_length=100)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices, default=Channel.APP)
    occurred_at = models.DateTimeField(_("occurred at"))
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("member event")
        verbose_name_plural = _("member events")
        constraints = [models.UniqueConstraint(fields=["event_type", "key"], name="event_counts_once")]
        indexes = [
            models.Index(fields=["member", "event_type", "occurred_at"], name="event_member_type_time"),
            # the insight rollups read one local day of facts at a time (campaigns/insight/rollups.py)
            models.Index(fields=["occurred_at"], name="event_time"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.key}"
