"""Benefits and who is entitled to them (tiers, paid plans)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from members.models import Channel, Store
from tiers.models import Plan, Tier

#: Undoing a redemption at the till is a same-day matter (the counter lists a day's redemptions);
#: a cancelled order undoes one at any time.


#: Undoing a redemption at the till is a same-day matter (the counter lists a day's redemptions);
#: a cancelled order undoes one at any time.
MAX_VOID_WINDOW = 24 * 60


class Benefit(models.Model):
    """What a member gets. Coupon-like kinds are issued as coupons; the others are held while
    the tier or plan lasts (priority support, an earn multiplier read by the earning rules)."""

    class Kind(models.TextChoices):
        AMOUNT_OFF = "amount_off", _("Coupon: amount off (CNY)")
        PERCENT_OFF = "percent_off", _("Coupon: percent off")
        FREE_SHIPPING = "free_shipping", _("Coupon: free shipping")
        GIFT = "gift", _("Gift")
        INVITATION = "invitation", _("Invitation (offline event)")
        SERVICE = "service", _("Service (e.g. priority support)")
        EARN_MULTIPLIER = "earn_multiplier", _("Earn multiplier")

    #: Kinds a member receives as a coupon with a code; the rest are held, not issued.
    ISSUED = {Kind.AMOUNT_OFF, Kind.PERCENT_OFF, Kind.FREE_SHIPPING, Kind.GIFT, Kind.INVITATION}

    name = models.CharField(pgettext_lazy("thing", "name"), max_length=60)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    value = models.DecimalField(
        _("value"),
        max_digits=10,
        decimal_places=2,
        default=0,
        help_text=_(
            "By kind: CNY off, percent off (12 means 12 percent off) or the multiplier (1.20 means ×1.2)."
        ),
    )
    max_discount = models.DecimalField(
        _("discount at most (CNY)"),
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Percent off only: the discount never goes above this. Empty: no cap."),
    )
    min_spend = models.DecimalField(
        _("minimum spend (CNY)"),
        max_digits=10,
        decimal_places=2,
        default=0,
        help_text=_("0 = no minimum. Counted on the lines the coupon applies to."),
    )
    valid_days = models.PositiveSmallIntegerField(
        _("valid for (days)"), default=30, help_text=_("How long an issued coupon can be used.")
    )
    conditions = models.CharField(
        _("conditions"),
        max_length=200,
        blank=True,
        help_text=_("Shown to staff and members, e.g. 'dine-in only'."),
    )
    # Where and when a coupon of this benefit can be redeemed: an empty condition does not restrict.
    stores = models.ManyToManyField(Store, verbose_name=_("stores"), blank=True, related_name="+")
    channels = models.JSONField(_("channels"), default=list, blank=True)
    weekdays = models.JSONField(_("weekdays"), default=list, blank=True)
    hour_from = models.PositiveSmallIntegerField(_("from hour"), null=True, blank=True)
    hour_to = models.PositiveSmallIntegerField(
        _("until hour"), null=True, blank=True, help_text=_("Exclusive: 10 to 14 is 10:00 to 13:59.")
    )
    # The basket's lines it applies to (the minimum spend and the discount count only those)
    categories = models.JSONField(_("categories"), default=list, blank=True)
    skus = models.JSONField(_("SKUs"), default=list, blank=True)
    excluded_categories = models.JSONField(_("excluded categories"), default=list, blank=True)
    excluded_skus = models.JSONField(_("excluded SKUs"), default=list, blank=True)
    void_window_minutes = models.PositiveSmallIntegerField(
        _("undo within (minutes)"),
        default=30,
        validators=[MaxValueValidator(MAX_VOID_WINDOW)],
        help_text=_(
            "How long the till may undo a redemption, at most 1440 (a day). 0: only for a cancelled order."
        ),
    )
    active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords(verbose_name=_("historical benefit"), m2m_fields=[stores])

    class Meta:
        verbose_name = _("benefit")
        verbose_name_plural = _("benefits")
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(value__gte=0) & Q(min_spend__gte=0), name="benefit_values"),
            models.CheckConstraint(
                condition=~Q(kind="percent_off") | Q(value__gt=0, value__lt=100), name="benefit_percent_range"
            ),
            models.CheckConstraint(condition=Q(valid_days__gt=0), name="benefit_valid_days"),
            models.CheckConstraint(
                condition=Q(max_discount__isnull=True) | Q(kind="percent_off", max_discount__gt=0),
                name="benefit_max_discount",
            ),
            models.CheckConstraint(
                condition=Q(hour_from__isnull=True) | Q(hour_from__lte=24), name="benefit_hour_from"
            ),
            models.CheckConstraint(
                condition=Q(hour_to__isnull=True) | Q(hour_to__lte=24), name="benefit_hour_to"
            ),
            models.CheckConstraint(
                condition=Q(void_window_minutes__lte=MAX_VOID_WINDOW), name="benefit_void_window"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def issued(self) -> bool:
        return self.kind in self.ISSUED

    @property
    def limits_lines(self) -> bool:
        """Whether it applies to some of a basket's lines only (the others count for nothing)."""
        return bool(self.categories or self.skus or self.excluded_categories or self.excluded_skus)

    def clean(self) -> None:
        errors: dict[str, Any] = {}
        if self.max_discount is not None and self.kind != self.Kind.PERCENT_OFF:
            errors["max_discount"] = _("Only a percent-off coupon has a cap: leave it empty.")
        if unknown := [c for c in self.channels if c not in Channel.values]:
            errors["channels"] = _("Unknown channel %(channel)s.") % {"channel": ", ".join(unknown)}
        if any(not str(day).isdigit() or not 1 <= int(day) <= 7 for day in self.weekdays):
            errors["weekdays"] = _("Weekdays are 1 (Monday) to 7 (Sunday).")
        for name in ("hour_from", "hour_to"):
            value = getattr(self, name)
            if value is not None and value > 24:
                errors[name] = _("An hour is 0 to 24.")
        if errors:
            raise ValidationError(errors)


class Entitlement(models.Model):
    """A tier or a paid plan grants ``quantity`` of a benefit per period (金卡: two free-shipping
    coupons a month). The issuing job gives each member each period's quantity once."""

    class Period(models.TextChoices):
        MONTHLY = "monthly", _("Every month")
        YEARLY = "yearly", _("Every year")
        BIRTHDAY = "birthday", _("In the birthday month, once a year")

    benefit = models.ForeignKey(
        Benefit, verbose_name=_("benefit"), on_delete=models.PROTECT, related_name="entitlements"
    )
    tier = models.ForeignKey(
        Tier,
        verbose_name=_("tier"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="entitlements",
    )
    plan = models.ForeignKey(
        Plan,
        verbose_name=_("paid plan"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="entitlements",
    )
    quantity = models.PositiveSmallIntegerField(_("quantity per period"), default=1)
    period = models.CharField(_("period"), max_length=10, choices=Period.choices, default=Period.MONTHLY)
    active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords(verbose_name=_("historical entitlement"))

    class Meta:
        verbose_name = _("entitlement")
        verbose_name_plural = _("entitlements")
        ordering = ["tier__rank", "plan_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(tier__isnull=False, plan__isnull=True) | Q(tier__isnull=True, plan__isnull=False),
                name="entitlement_tier_or_plan",
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="entitlement_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.tier or self.plan}: {self.benefit} ×{self.quantity} ({self.get_period_display()})"
