"""Review holds: an outsized award waits for an approver before its points are posted.

A purchase or behaviour event from an import or a partner whose award is above the operator's
limit (``ReviewLimit``, per point type, for a channel or a store) is recorded and explained as
usual, but its points are not posted: they are neither spendable nor counted for tiers. An
approver releases the award (its points are posted then, exactly what was held, less what
refunds of the purchase took back meanwhile) or rejects it (nothing is ever posted).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from campaigns.models.awards import Award
from members.models import Channel, Member, Store
from points.models import PointType


class ReviewLimit(models.Model):
    """Above this many points of one type, a fact's award waits for an approver.

    The same precedence as earning rules: a store's limit beats its channel's, which beats the
    default one (no channel, no store). A point type without a limit is never held.
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
    above = models.PositiveIntegerField(
        _("review awards above"), help_text=_("An award of more points than this waits for an approver.")
    )
    active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords(verbose_name=_("historical review limit"))

    class Meta:
        verbose_name = _("review limit")
        verbose_name_plural = _("review limits")
        ordering = ["point_type", "store", "channel"]
        constraints = [
            models.UniqueConstraint(
                fields=["point_type", "channel", "store"], name="reviewlimit_one_per_scope"
            ),
            models.UniqueConstraint(
                fields=["point_type", "channel"], condition=Q(store=None), name="reviewlimit_one_per_channel"
            ),
        ]

    def __str__(self) -> str:
        scope = self.store or self.get_channel_display() or _("default")
        return f"{self.point_type} · {scope} > {self.above:,}"


class AwardReview(models.Model):
    """An award whose points wait for an approver's decision (see the module doc)."""

    class Status(models.TextChoices):
        HELD = "held", _("Waiting for review")
        RELEASED = "released", _("Released")
        REJECTED = "rejected", _("Rejected")

    award = models.OneToOneField(
        Award, verbose_name=_("award"), on_delete=models.PROTECT, related_name="review"
    )
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="+")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.HELD)
    #: {point type code: points the award earned}, as held
    points = models.JSONField(_("points held"), default=dict)

    class Reason(models.TextChoices):
        OVER_LIMIT = "over_limit", _("Above a review limit")
        MEMBER_FROZEN = "member_frozen", _("The member is frozen")
        RISK = "risk_rule", _("A risk rule fired")

    reason = models.CharField(_("why held"), max_length=20, choices=Reason.choices, default=Reason.OVER_LIMIT)
    #: {point type code: the limit it went over}
    limits = models.JSONField(_("limits exceeded"), default=dict)
    #: ids of the campaigns whose coupons are issued on release
    coupon_campaigns = models.JSONField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(_("held at"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    note = models.CharField(_("decision note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("award under review")
        verbose_name_plural = _("awards under review")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "-created_at"], name="awardreview_queue")]
        permissions = [("decide_awardreview", _("Can release or reject awards held for review"))]

    def __str__(self) -> str:
        return f"{self.award} · {self.get_status_display()}"
