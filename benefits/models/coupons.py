"""Coupons members hold, and each redemption of one (with its undoing)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

#: Undoing a redemption at the till is a same-day matter (the counter lists a day's redemptions);
#: a cancelled order undoes one at any time.
from benefits.models.catalogue import Benefit, Entitlement
from config.common.states import Transitions
from members.models import Channel, Member, Store


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


class CouponMiss(models.Model):
    """A coupon code looked up and not found: by a partner through the API (one that is not its
    members' counts too), or by store staff at the counter. The risk desk counts these to catch
    codes being guessed; they are written even when the request is refused."""

    at = models.DateTimeField(_("at"), db_index=True)
    #: what was typed, normalised (cut to the field's length); shown masked
    code = models.CharField(_("code tried"), max_length=32)
    partner = models.ForeignKey(
        "partners.Partner",
        verbose_name=_("partner"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    store = models.ForeignKey(
        Store, verbose_name=_("store"), on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff account"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("failed coupon lookup")
        verbose_name_plural = _("failed coupon lookups")

    def __str__(self) -> str:
        return f"{self.code[:4]}… @ {self.at:%Y-%m-%d %H:%M}"
