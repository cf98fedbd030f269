"""What the earning pipeline gave, line by line, so every point can be explained and reversed.

An ``Award`` is one fact processed (a purchase, a refund of it, a behaviour event, a lifecycle
moment such as a birthday); its ``key`` makes processing the same fact twice a no-op. Its lines
say where each point came from (base rule, tier multiplier, a campaign, a behaviour rule). A
refund's award has negative lines mirroring the purchase's. Lines sum, per point type, to the
ledger entry the award posted. Rows are written once and never changed.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from benefits.models import Coupon
from campaigns.models.campaign import Campaign
from members.models import Member
from members.purchases.models import MemberEvent, Purchase, Refund
from points.models import PointType


class Award(models.Model):
    class Kind(models.TextChoices):
        PURCHASE = "purchase", _("Purchase")
        REFUND = "refund", _("Refund")
        EVENT = "event", _("Behaviour event")
        LIFECYCLE = "lifecycle", _("Member lifecycle")

    key = models.CharField(_("key"), max_length=80, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="+")
    purchase = models.ForeignKey(
        Purchase,
        verbose_name=_("purchase"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    refund = models.OneToOneField(
        Refund, verbose_name=_("refund"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    event = models.OneToOneField(
        MemberEvent,
        verbose_name=_("event"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reason = models.CharField(_("reason"), max_length=100, blank=True)
    #: The fact's award that set this one off: a purchase whose growth reached a tier causes the
    #: upgrade's award (and the next upgrade's, if that one's growth reaches the next tier: the
    #: cause is always the fact, one level), so the fact's answer explains every point it moved.
    cause = models.ForeignKey(
        "self",
        verbose_name=_("caused by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="consequences",
    )
    occurred_at = models.DateTimeField(_("occurred at"))
    created_at = models.DateTimeField(_("processed at"))

    class Meta:
        verbose_name = _("award")
        verbose_name_plural = _("awards")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["member", "-id"], name="award_member_recent"),
            models.Index(fields=["purchase"], name="award_purchase"),
        ]

    def __str__(self) -> str:
        from campaigns.earning.explain import award_text  # words, not the key (explain reads the models)

        return award_text(self)


class AwardLine(models.Model):
    class Kind(models.TextChoices):
        BASE = "base", _("Base rule")
        TIER = "tier", _("Tier multiplier")
        CAMPAIGN = "campaign", _("Campaign")
        BEHAVIOUR = "behaviour", _("Behaviour rule")
        BENEFIT = "benefit", _("Tier benefit")

    award = models.ForeignKey(Award, verbose_name=_("award"), on_delete=models.PROTECT, related_name="lines")
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    point_type = models.ForeignKey(
        PointType,
        verbose_name=_("point type"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    amount = models.BigIntegerField(_("amount"), default=0)
    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="lines",
    )
    coupon = models.ForeignKey(
        Coupon, verbose_name=_("coupon"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cny = models.DecimalField(_("cost (CNY)"), max_digits=14, decimal_places=4, default=0)
    occurred_at = models.DateTimeField(_("occurred at"))
    params = models.JSONField(_("details"), default=dict, editable=False)

    class Meta:
        verbose_name = _("award line")
        verbose_name_plural = _("award lines")
        ordering = ["id"]
        indexes = [
            models.Index(fields=["campaign", "member", "occurred_at"], name="awardline_campaign_member"),
            models.Index(fields=["member", "kind", "occurred_at"], name="awardline_member_kind"),
            # the insight rollups read one local day of facts at a time (campaigns/insight/rollups.py)
            models.Index(fields=["occurred_at"], name="awardline_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount:+d}"


class Participation(models.Model):
    """A member a campaign targeted: given to, or held out in the control group."""

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.PROTECT, related_name="participations"
    )
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="+")
    control = models.BooleanField(_("control group"), default=False)
    first_at = models.DateTimeField(_("first targeted at"))

    class Meta:
        verbose_name = _("participation")
        verbose_name_plural = _("participations")
        constraints = [models.UniqueConstraint(fields=["campaign", "member"], name="participation_once")]

    def __str__(self) -> str:
        return f"{self.campaign} · {self.member_id}"
