"""Journeys (自动化营销): a trigger lets members in, they walk the steps in order, and leave at the
end, when a condition fails, or on the exit (a purchase).

A journey goes live like a campaign: a draft, approved by someone other than its author, then
scheduled (``campaigns.models.LIFECYCLE``). Its members are ``JourneyEntry`` rows; the job
``journeys_run`` (every ten minutes) lets new members in and moves due entries on. A share of the
entries (the control group) is held out: they enter and are counted but receive nothing, so the
results can compare conversion with and without the journey.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from benefits.models import Benefit, Coupon
from campaigns.models import Campaign
from campaigns.segments.models import Segment
from members.messaging.models import Template
from members.models import Member, Tag
from points.models import PointType

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class Trigger(models.TextChoices):
    """What lets a member in. Facts (enrolment, upgrade) are read since the journey started;
    dates relative to a member's data let a member in ``days`` before the date."""

    SEGMENT = "segment", _("Enters a segment")
    ENROLMENT = "enrolment", _("Enrols (a new member)")
    TIER_UPGRADE = "upgrade", _("Moves up a tier")
    POINTS_EXPIRING = "expiring", _("N days before points expire")
    BIRTHDAY = "birthday", _("N days before the birthday")
    TIER_REVIEW = "review", _("N days before the tier review, when not on track to keep the tier")
    COUPON_EXPIRING = "coupon", _("N days before a coupon expires")


#: Triggers that read ``days``: how long before the date a member enters.
DATED = {Trigger.POINTS_EXPIRING, Trigger.BIRTHDAY, Trigger.TIER_REVIEW, Trigger.COUPON_EXPIRING}


class Journey(models.Model):
    code = models.SlugField(
        _("code"), max_length=40, unique=True, help_text=_("Stable id for reports and messages.")
    )
    name = models.CharField(pgettext_lazy("thing", "name"), max_length=60)
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Campaign.Status.choices, default=Campaign.Status.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("approved by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))

    trigger = models.CharField(_("trigger"), max_length=10, choices=Trigger.choices)
    days = models.PositiveSmallIntegerField(
        _("days before"),
        null=True,
        blank=True,
        help_text=_("For triggers on a date: how many days before it a member enters."),
    )
    segment = models.ForeignKey(
        Segment,
        verbose_name=_("segment"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_(
            "The segment a member enters (segment trigger); for other triggers, only its members enter."
        ),
    )
    reentry_days = models.PositiveSmallIntegerField(
        _("enter again after (days)"),
        null=True,
        blank=True,
        help_text=_(
            "Segment trigger: a member who left may enter again after this many days. Empty: once only."
        ),
    )
    exit_on_purchase = models.BooleanField(
        _("leave on purchase"), default=False, help_text=_("A member who buys leaves the journey.")
    )
    holdout_percent = models.PositiveSmallIntegerField(
        _("control group (%)"),
        default=0,
        help_text=_("This share of entering members receives nothing, to measure the journey's effect."),
    )
    conversion_days = models.PositiveSmallIntegerField(
        _("conversion window (days)"),
        default=14,
        help_text=_("A member converts with a purchase within this many days of entering."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    _history_user: Any
    _change_reason: str

    history = HistoricalRecords(verbose_name=_("historical journey"))

    class Meta:
        verbose_name = _("journey")
        verbose_name_plural = _("journeys")
        ordering = ["-starts_at", "-id"]
        permissions = [("approve_journey", _("Can approve journeys"))]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="journey_ends_after_start"
            ),
            models.CheckConstraint(condition=Q(holdout_percent__lte=50), name="journey_holdout_at_most_half"),
            models.CheckConstraint(condition=Q(conversion_days__gte=1), name="journey_conversion_window"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def editable(self) -> bool:
        return self.status == Campaign.Status.DRAFT

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        errors: dict[str, StrOrPromise] = {}
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            errors["ends_at"] = _("The end must be after the start.")
        if self.trigger == Trigger.SEGMENT and not self.segment_id:
            errors["segment"] = _("Pick the segment members enter.")
        if self.trigger in DATED and self.days is None:
            errors["days"] = _("Say how many days before the date a member enters.")
        if self.trigger not in DATED and self.days is not None:
            errors["days"] = _("Only for triggers on a date.")
        if self.trigger != Trigger.SEGMENT and self.reentry_days is not None:
            errors["reentry_days"] = _(
                "Only for the segment trigger: other triggers enter once per date or fact."
            )
        if errors:
            raise ValidationError(errors)


class JourneyStep(models.Model):
    class Kind(models.TextChoices):
        WAIT = "wait", _("Wait")
        CONDITION = "condition", _("Continue only if in a segment")
        MESSAGE = "message", _("Send a message")
        COUPON = "coupon", _("Issue a coupon")
        POINTS = "points", _("Give points")
        TAG = "tag", _("Add a tag")

    #: What each kind needs filled in (the form and ``clean`` read this).
    NEEDS: dict[str, tuple[str, ...]] = {
        Kind.WAIT: ("wait_days",),
        Kind.CONDITION: ("segment",),
        Kind.MESSAGE: ("template",),
        Kind.COUPON: ("benefit",),
        Kind.POINTS: ("point_type", "points"),
        Kind.TAG: ("tag",),
    }

    journey = models.ForeignKey(
        Journey, verbose_name=_("journey"), on_delete=models.CASCADE, related_name="steps"
    )
    position = models.PositiveSmallIntegerField(_("order"))
    kind = models.CharField(_("step"), max_length=10, choices=Kind.choices)
    wait_days = models.PositiveSmallIntegerField(_("wait (days)"), null=True, blank=True)
    segment = models.ForeignKey(
        Segment, verbose_name=_("segment"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    template = models.ForeignKey(
        Template,
        verbose_name=_("message template"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    benefit = models.ForeignKey(
        Benefit,
        verbose_name=_("coupon"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        limit_choices_to={"kind__in": Benefit.ISSUED},
    )
    point_type = models.ForeignKey(
        PointType,
        verbose_name=_("point type"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    points = models.PositiveIntegerField(_("points"), null=True, blank=True)
    tag = models.ForeignKey(
        Tag, verbose_name=_("tag"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("step")
        verbose_name_plural = _("steps")
        ordering = ["journey", "position"]
        constraints = [models.UniqueConstraint(fields=["journey", "position"], name="journey_step_order")]

    def __str__(self) -> str:
        return f"{self.position}. {self.get_kind_display()}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        needed = self.NEEDS.get(self.kind, ())
        errors = {
            name: _("Needed for this step.")
            for name in needed
            if getattr(self, name if name in ("wait_days", "points") else f"{name}_id") in (None, 0)
        }
        if errors:
            raise ValidationError(errors)


class JourneyEntry(models.Model):
    """One member's walk through a journey, once per occurrence of its trigger (a lot's expiry
    date, a birthday's year, a coupon): a rerun of the job lets no one in twice."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("In the journey")
        COMPLETED = "completed", _("Completed")
        EXITED = "exited", _("Left")
        CONTROL = "control", _("Control group")

    class Exit(models.TextChoices):
        PURCHASE = "purchase", _("Bought")
        CONDITION = "condition", _("Condition not met")
        INACTIVE = "inactive", _("Member frozen or closed")
        ENDED = "ended", _("Journey ended")

    journey = models.ForeignKey(
        Journey,
        verbose_name=_("journey"),
        on_delete=models.PROTECT,
        related_name="entries",
        db_index=False,  # journey_entry_member leads with the journey
    )
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="+")
    occurrence = models.CharField(_("occurrence"), max_length=40, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    exit_reason = models.CharField(_("left because"), max_length=10, choices=Exit.choices, blank=True)
    position = models.PositiveSmallIntegerField(_("next step"), default=1)
    due_at = models.DateTimeField(_("next step at"))
    entered_at = models.DateTimeField(_("entered at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    coupon = models.ForeignKey(
        Coupon, verbose_name=_("coupon"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("journey member")
        verbose_name_plural = _("journey members")
        constraints = [
            models.UniqueConstraint(fields=["journey", "member", "occurrence"], name="journey_entry_once"),
        ]
        indexes = [
            # the job's chunks, in order (a tie on due_at would sort every due entry for each chunk)
            models.Index(fields=["due_at", "id"], name="journey_entry_due", condition=Q(status="active")),
            models.Index(fields=["journey", "member", "-entered_at"], name="journey_entry_member"),
        ]

    def __str__(self) -> str:
        return f"{self.journey} · {self.member}"
