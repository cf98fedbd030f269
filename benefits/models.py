"""Benefits (权益), which tiers and paid plans entitle members to, coupons (issued grants with
an unguessable code, 核销 at a store), and the rewards catalogue bought with points."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from config.common.states import Transitions
from members.models import Channel, Member, Store
from points.models import Entry
from tiers.models import Plan, Tier

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


class Coupon(models.Model):
    """An issued benefit: a code the member shows and store staff redeem (核销) once."""

    class Status(models.TextChoices):
        ISSUED = "issued", _("Issued")
        REDEEMED = "redeemed", _("Redeemed")
        EXPIRED = "expired", _("Expired")
        VOIDED = "voided", _("Voided")

    #: Every move of a coupon: an issued one is redeemed, voided (withdrawn unused) or expires. A
    #: redemption undone (within the benefit's window, or when its order is cancelled) puts it back
    #: to issued, which ``coupon_redemption_void`` moves on to expired if its time ran out meanwhile.
    MOVES = Transitions(
        {
            Status.ISSUED: (Status.REDEEMED, Status.VOIDED, Status.EXPIRED),
            Status.REDEEMED: (Status.ISSUED,),
        }
    )

    class Origin(models.TextChoices):
        ENTITLEMENT = "entitlement", _("Tier or plan entitlement")
        REWARD = "reward", _("Bought with points")
        MANUAL = "manual", _("Issued by an operator")
        CAMPAIGN = "campaign", _("Campaign")
        MIGRATION = "migration", _("Moved in from the old system")

    code = models.CharField(_("code"), max_length=20, unique=True, editable=False)
    benefit = models.ForeignKey(
        Benefit, verbose_name=_("benefit"), on_delete=models.PROTECT, related_name="coupons"
    )
    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="coupons"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ISSUED)
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"))
    origin = models.CharField(_("from"), max_length=12, choices=Origin.choices)
    entitlement = models.ForeignKey(
        Entitlement,
        verbose_name=_("entitlement"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coupons",
    )
    period_key = models.CharField(_("period"), max_length=12, blank=True)
    seq = models.PositiveSmallIntegerField(_("number in period"), default=1)
    issued_at = models.DateTimeField(_("issued at"))
    redeemed_at = models.DateTimeField(_("redeemed at"), null=True, blank=True)
    redeemed_store = models.ForeignKey(
        Store,
        verbose_name=_("redeemed at store"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    redeemed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("redeemed by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("voided by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    void_reason = models.CharField(_("void reason"), max_length=200, blank=True)

    history = HistoricalRecords(verbose_name=_("historical coupon"))

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        indexes = [
            models.Index(fields=["member", "-issued_at"], name="coupon_member_recent"),
            models.Index(fields=["valid_until"], name="coupon_expiry_due", condition=Q(status="issued")),
            # the insight rollups count a day's issued, redeemed and expired coupons
            models.Index(fields=["issued_at"], name="coupon_issued"),
            models.Index(
                fields=["redeemed_at"], name="coupon_redeemed", condition=Q(redeemed_at__isnull=False)
            ),
            models.Index(fields=["valid_until"], name="coupon_expired", condition=Q(status="expired")),
        ]
        constraints = [
            # a member never gets the same period's entitlement twice: the database says so
            models.UniqueConstraint(
                fields=["entitlement", "member", "period_key", "seq"],
                condition=Q(entitlement__isnull=False),
                name="coupon_once_per_entitlement_period",
            ),
            models.CheckConstraint(
                condition=Q(valid_until__gt=models.F("valid_from")), name="coupon_validity"
            ),
            models.CheckConstraint(
                condition=~Q(status="redeemed") | Q(redeemed_at__isnull=False),
                name="coupon_redeemed_has_time",
            ),
        ]
        permissions = [("redeem_coupon", _("Can redeem coupons at a store"))]

    def __str__(self) -> str:
        # titles, logs and inline headings: the code's end tells coupons apart without giving it away
        return f"{self.benefit} ····{self.code[-4:]}"

    @property
    def display_code(self) -> str:
        return "-".join(self.code[i : i + 4] for i in range(0, len(self.code), 4))


class CouponRedemption(models.Model):
    """One redemption (核销) of a coupon: where and by whom, the basket it was for and what it took
    off. Undoing it (within the benefit's window, or when its order is cancelled) keeps the row,
    marked with who undid it, when and why, and the coupon can be redeemed again: a coupon has at
    most one redemption that is not undone, and has one exactly while it is redeemed."""

    class VoidReason(models.TextChoices):
        UNDO = "undo", _("Undone at the till")
        ORDER_CANCELLED = "order_cancelled", _("Order cancelled")

    coupon = models.ForeignKey(
        Coupon, verbose_name=_("coupon"), on_delete=models.PROTECT, related_name="coupon_redemptions"
    )
    store = models.ForeignKey(Store, verbose_name=_("store"), on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    order_number = models.CharField(_("order number"), max_length=64, blank=True)
    amount = models.DecimalField(
        _("order amount (CNY)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    eligible_amount = models.DecimalField(
        _("counted for the coupon (CNY)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    discount = models.DecimalField(
        _("discount (CNY)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    redeemed_at = models.DateTimeField(_("redeemed at"))
    redeemed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("redeemed by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    void_until = models.DateTimeField(
        _("can be undone until"), null=True, blank=True, help_text=_("Empty: only if the order is cancelled.")
    )
    voided_at = models.DateTimeField(_("undone at"), null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("undone by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    void_reason = models.CharField(_("why undone"), max_length=16, choices=VoidReason.choices, blank=True)
    void_note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("coupon redemption")
        verbose_name_plural = _("coupon redemptions")
        ordering = ["-redeemed_at", "-id"]
        indexes = [
            models.Index(fields=["coupon", "-redeemed_at"], name="coupon_redemption_coupon"),
            # the counter's page: its stores' recent redemptions
            models.Index(fields=["store", "-redeemed_at"], name="coupon_redemption_store"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["coupon"], condition=Q(voided_at__isnull=True), name="coupon_redemption_one_live"
            ),
            models.CheckConstraint(
                condition=Q(voided_at__isnull=True, void_reason="")
                | Q(voided_at__isnull=False) & ~Q(void_reason=""),
                name="coupon_redemption_void_reason",
            ),
            models.CheckConstraint(
                condition=Q(discount__isnull=True) | Q(discount__gte=0), name="coupon_redemption_discount"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.coupon} @ {self.store}"


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
