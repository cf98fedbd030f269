"""Standing earning rules: what a CNY spent and a behaviour earn before any campaign."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from members.models import Channel, Store
from members.purchases.models import EventType
from points.models import PointType


class Rounding(models.TextChoices):
    FLOOR = "floor", _("Round down")
    HALF_UP = "half_up", _("Round half up")
    CEILING = "ceiling", _("Round up")


class EarnRule(models.Model):
    """Points (or growth) per CNY of a purchase's eligible amount.

    One default rule per point type (no channel, no store); a rule for a channel overrides it,
    a rule for a store overrides both. The eligible amount is the paid amount less shipping,
    gift cards and the part paid with points, less lines in the excluded categories or SKUs.
    """

    point_type = models.ForeignKey(
        PointType, verbose_name=_("point type"), on_delete=models.PROTECT, related_name="+"
    )
    channel = models.CharField(
        _("channel"), max_length=16, choices=Channel.choices, blank=True, help_text=_("Empty: every channel.")
    )
    store = models.ForeignKey(
        Store,
        verbose_name=_("store"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty: every store."),
    )
    rate = models.DecimalField(
        _("per CNY"), max_digits=8, decimal_places=4, help_text=_("Points earned per CNY (0 earns nothing).")
    )
    rounding = models.CharField(_("rounding"), max_length=8, choices=Rounding.choices, default=Rounding.FLOOR)
    excluded_categories = models.JSONField(
        _("excluded categories"),
        default=list,
        blank=True,
        help_text=_("Lines in these categories earn nothing."),
    )
    excluded_skus = models.JSONField(
        _("excluded SKUs"), default=list, blank=True, help_text=_("Lines of these SKUs earn nothing.")
    )
    active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords(verbose_name=_("historical earning rule"))

    class Meta:
        verbose_name = _("earning rule")
        verbose_name_plural = _("earning rules")
        ordering = ["point_type", "store", "channel"]
        constraints = [
            models.UniqueConstraint(fields=["point_type", "channel", "store"], name="earnrule_one_per_scope"),
            models.UniqueConstraint(
                fields=["point_type", "channel"], condition=Q(store=None), name="earnrule_one_per_channel"
            ),
            models.CheckConstraint(condition=Q(rate__gte=0), name="earnrule_rate_not_negative"),
        ]

    def __str__(self) -> str:
        scope = self.store or self.get_channel_display() or _("default")
        return f"{self.point_type} · {scope}"


class BehaviourRule(models.Model):
    """Points (or growth) for one kind of behaviour, at most ``cap`` times per period."""

    class Period(models.TextChoices):
        DAY = "day", _("per day")
        WEEK = "week", _("per week")
        MONTH = "month", _("per month")
        YEAR = "year", _("per year")
        EVER = "ever", _("ever")

    event_type = models.ForeignKey(
        EventType, verbose_name=_("event type"), on_delete=models.PROTECT, related_name="+"
    )
    point_type = models.ForeignKey(
        PointType, verbose_name=_("point type"), on_delete=models.PROTECT, related_name="+"
    )
    amount = models.PositiveIntegerField(_("amount"))
    cap = models.PositiveSmallIntegerField(
        _("at most"), null=True, blank=True, help_text=_("Times per period; empty: no limit.")
    )
    cap_period = models.CharField(_("period"), max_length=6, choices=Period.choices, default=Period.DAY)
    active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords(verbose_name=_("historical behaviour rule"))

    class Meta:
        verbose_name = _("behaviour rule")
        verbose_name_plural = _("behaviour rules")
        ordering = ["event_type", "point_type"]
        constraints = [
            models.UniqueConstraint(fields=["event_type", "point_type"], name="behaviourrule_one_per_type")
        ]

    def __str__(self) -> str:
        return f"{self.event_type} · {self.point_type}"
