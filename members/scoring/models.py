"""RFM (recency, frequency, monetary) and lifecycle stages of every member.

A nightly pass (``services.members_score``) writes one ``MemberScore`` per member; the run's
counts per segment and stage, and the moves between segments since the previous run, are kept
in ``ScoreRun`` rows so the pages never count a million members while an operator waits.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from members.models import Member, Store


class Segment(models.TextChoices):
    """The eight classic RFM segments: 重要 when monetary is high, then by recency and frequency."""

    IMPORTANT_VALUE = "important_value", _("Important value (重要价值客户)")
    IMPORTANT_DEVELOP = "important_develop", _("Important to develop (重要发展客户)")
    IMPORTANT_KEEP = "important_keep", _("Important to keep (重要保持客户)")
    IMPORTANT_WIN_BACK = "important_win_back", _("Important to win back (重要挽留客户)")
    GENERAL_VALUE = "general_value", _("General value (一般价值客户)")
    GENERAL_DEVELOP = "general_develop", _("General to develop (一般发展客户)")
    GENERAL_KEEP = "general_keep", _("General to keep (一般保持客户)")
    GENERAL_WIN_BACK = "general_win_back", _("General to win back (一般挽留客户)")
    NONE = "none", _("No purchase in the window")


#: (recency high, frequency high, monetary high) -> segment
SEGMENT_OF = {
    (True, True, True): Segment.IMPORTANT_VALUE,
    (True, False, True): Segment.IMPORTANT_DEVELOP,
    (False, True, True): Segment.IMPORTANT_KEEP,
    (False, False, True): Segment.IMPORTANT_WIN_BACK,
    (True, True, False): Segment.GENERAL_VALUE,
    (True, False, False): Segment.GENERAL_DEVELOP,
    (False, True, False): Segment.GENERAL_KEEP,
    (False, False, False): Segment.GENERAL_WIN_BACK,
}


class Stage(models.TextChoices):
    NEW = "new", pgettext_lazy("lifecycle", "New")
    ACTIVE = "active", pgettext_lazy("lifecycle", "Active")
    DORMANT = "dormant", pgettext_lazy("lifecycle", "Dormant")
    LOST = "lost", pgettext_lazy("lifecycle", "Lost")


class ScoringSettings(models.Model):
    """The one row of scoring settings (pk 1), edited by operators; used by the next run."""

    class Method(models.TextChoices):
        QUINTILES = "quintiles", _("Quintiles: high is the top two fifths (score 4 or 5)")
        THRESHOLDS = "thresholds", _("Thresholds set below")

    window_days = models.PositiveSmallIntegerField(
        _("RFM window (days)"),
        default=365,
        validators=[MinValueValidator(7)],
        help_text=_("Frequency and monetary count the purchases of this many days."),
    )
    method = models.CharField(
        _("high or low by"), max_length=10, choices=Method.choices, default=Method.QUINTILES
    )
    recent_days = models.PositiveSmallIntegerField(
        _("recency is high within (days)"), default=90, validators=[MinValueValidator(1)]
    )
    frequent_orders = models.PositiveSmallIntegerField(
        _("frequency is high from (orders)"), default=3, validators=[MinValueValidator(1)]
    )
    monetary_amount = models.DecimalField(
        _("monetary is high from (CNY)"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("1000"),
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    new_days = models.PositiveSmallIntegerField(
        _("new for (days after joining)"), default=30, validators=[MinValueValidator(1)]
    )
    active_days = models.PositiveSmallIntegerField(
        _("active: bought within (days)"), default=90, validators=[MinValueValidator(1)]
    )
    dormant_days = models.PositiveSmallIntegerField(
        _("dormant: last bought within (days); lost after"), default=180, validators=[MinValueValidator(2)]
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    _history_user: Any
    history = HistoricalRecords(verbose_name=_("historical scoring settings"), excluded_fields=["updated_at"])

    class Meta:
        verbose_name = _("scoring settings")
        verbose_name_plural = _("scoring settings")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(dormant_days__gt=models.F("active_days")),
                name="scoring_dormant_after_active",
            )
        ]

    def __str__(self) -> str:
        return str(_("scoring settings"))

    @classmethod
    def current(cls) -> ScoringSettings:
        return cls.objects.get_or_create(pk=1)[0]


class MemberScore(models.Model):
    """A member's latest scores. Written only by the scoring pass."""

    member = models.OneToOneField(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, primary_key=True, related_name="score"
    )
    first_purchase_at = models.DateTimeField(_("first purchase in window"), null=True)
    last_purchase_at = models.DateTimeField(_("last purchase"), null=True)
    frequency = models.PositiveIntegerField(_("orders in window"), default=0)
    interval_days = models.DecimalField(
        _("days between purchases"),
        max_digits=8,
        decimal_places=1,
        null=True,
        help_text=_("Average over the window's purchases; none below two."),
    )
    monetary = models.DecimalField(_("sales in window (CNY)"), max_digits=14, decimal_places=2, default=0)
    r = models.PositiveSmallIntegerField("R", default=0)
    f = models.PositiveSmallIntegerField("F", default=0)
    m = models.PositiveSmallIntegerField("M", default=0)
    segment = models.CharField(_("RFM segment"), max_length=20, choices=Segment.choices, default=Segment.NONE)
    previous_segment = models.CharField(
        _("segment at the previous run"), max_length=20, choices=Segment.choices, blank=True
    )
    stage = models.CharField(_("lifecycle stage"), max_length=8, choices=Stage.choices, default=Stage.NEW)
    scored_at = models.DateTimeField(_("scored at"), null=True)

    class Meta:
        verbose_name = _("member score")
        verbose_name_plural = _("member scores")
        indexes = [
            models.Index(fields=["segment", "member"], name="memberscore_segment"),
            models.Index(fields=["stage", "member"], name="memberscore_stage"),
        ]

    def __str__(self) -> str:
        return f"{self.get_segment_display()} R{self.r}F{self.f}M{self.m}"


class ScoreRun(models.Model):
    """One scoring pass: its settings and how long it took."""

    at = models.DateTimeField(_("scored at"))
    seconds = models.DecimalField(_("seconds"), max_digits=8, decimal_places=2)
    members = models.PositiveIntegerField(_("members"))
    window_days = models.PositiveSmallIntegerField(_("RFM window (days)"))
    method = models.CharField(_("high or low by"), max_length=10, choices=ScoringSettings.Method.choices)

    class Meta:
        verbose_name = _("scoring run")
        verbose_name_plural = _("scoring runs")
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M}"


class ScoreCount(models.Model):
    """A run's members and their sales in the window, per (previous segment, segment, stage) and
    registration store (store staff see their stores' counts)."""

    run = models.ForeignKey(
        ScoreRun, verbose_name=_("scoring run"), on_delete=models.CASCADE, related_name="counts"
    )
    store = models.ForeignKey(
        Store, verbose_name=_("store"), on_delete=models.PROTECT, null=True, related_name="+"
    )
    previous_segment = models.CharField(_("segment at the previous run"), max_length=20, blank=True)
    segment = models.CharField(_("RFM segment"), max_length=20, choices=Segment.choices)
    stage = models.CharField(_("lifecycle stage"), max_length=8, choices=Stage.choices)
    members = models.PositiveIntegerField(_("members"))
    sales = models.DecimalField(_("sales in window (CNY)"), max_digits=16, decimal_places=2)

    class Meta:
        verbose_name = _("scoring count")
        verbose_name_plural = _("scoring counts")

    def __str__(self) -> str:
        return f"{self.previous_segment} → {self.segment} ({self.stage}): {self.members}"
