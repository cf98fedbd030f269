"""Segments: groups of members an operator defines once and targets many times.

A dynamic segment is a set of conditions (``Condition`` rows, each a field, an operator and a
value), evaluated whenever it is read, so it always holds the members who match now. A static
segment is a list of members (``SegmentMember`` rows), uploaded or saved from a page.
What each field means is in ``conditions.py``; evaluating a segment is ``selectors.py``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from members.models import Member, Store, Tag
from tiers.models import Tier


class Logic(models.TextChoices):
    ALL = "all", _("all of them (AND)")
    ANY = "any", _("any of them (OR)")


class Field(models.TextChoices):
    """What a condition looks at. ``conditions.FIELDS`` says how each is read."""

    TIER = "tier", _("Tier")
    RFM = "rfm", _("RFM segment")
    STAGE = "stage", _("Lifecycle stage")
    TAG = "tag", _("Tag")
    SPEND = "spend", _("Spend in the last N days (CNY)")
    ORDERS = "orders", _("Purchases in the last N days")
    EARNED = "earned", _("Points earned in the last N days")
    SILENT = "silent", _("Days since the last purchase")
    AVAILABLE = "available", _("Available points")
    EXPIRING = "expiring", _("Points expiring within N days")
    BIRTHDAY = "birthday", _("Birthday month")
    STORE = "store", _("Registration store")
    CHANNEL = "channel", _("Registration channel")
    JOINED = "joined", _("Days since registration")
    CITY = "city", _("City")
    CONSENT = "consent", _("Marketing consent")
    GENDER = "gender", _("Gender")


class Operator(models.TextChoices):
    IS = "is", _("is")
    IS_NOT = "is_not", _("is not")
    AT_LEAST = "gte", _("at least")
    AT_MOST = "lte", _("at most")


class Segment(models.Model):
    class Kind(models.TextChoices):
        DYNAMIC = "dynamic", _("Dynamic: members who match the conditions")
        STATIC = "static", _("Static: a list of members")

    name = models.CharField(pgettext_lazy("thing", "name"), max_length=60, unique=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.DYNAMIC)
    groups_logic = models.CharField(
        _("members match"),
        max_length=3,
        choices=Logic.choices,
        default=Logic.ALL,
        help_text=_("How the condition groups combine."),
    )
    conditions_logic = models.CharField(
        _("within a group, members match"),
        max_length=3,
        choices=Logic.choices,
        default=Logic.ALL,
        help_text=_("How the conditions of one group combine."),
    )
    # the count when the segment was last saved or counted (lists show it without counting)
    member_count = models.PositiveIntegerField(_("members"), null=True, editable=False)
    counted_at = models.DateTimeField(_("counted at"), null=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        null=True,
        editable=False,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    _history_user: Any
    history = HistoricalRecords(
        verbose_name=_("historical segment"), excluded_fields=["updated_at", "member_count", "counted_at"]
    )

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Condition(models.Model):
    """One test on members. Which of the value columns it reads depends on its field."""

    segment = models.ForeignKey(
        Segment, verbose_name=_("segment"), on_delete=models.CASCADE, related_name="conditions"
    )
    group = models.PositiveSmallIntegerField(
        _("group"), default=1, help_text=_("Conditions with the same number form one group.")
    )
    field = models.CharField(_("field"), max_length=10, choices=Field.choices)
    operator = models.CharField(_("operator"), max_length=6, choices=Operator.choices)
    number = models.DecimalField(
        pgettext_lazy("segment", "amount"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    days = models.PositiveIntegerField(_("days"), null=True, blank=True)
    tier = models.ForeignKey(
        Tier, verbose_name=_("tier"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    store = models.ForeignKey(
        Store, verbose_name=_("store"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    tag = models.ForeignKey(
        Tag, verbose_name=_("tag"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    choice = models.CharField(_("value"), max_length=20, blank=True)
    text = models.CharField(_("text"), max_length=50, blank=True)

    history = HistoricalRecords(verbose_name=_("historical condition"))

    class Meta:
        verbose_name = _("condition")
        verbose_name_plural = pgettext_lazy("segment", "conditions")
        ordering = ["group", "pk"]

    def __str__(self) -> str:
        from campaigns.segments.conditions import describe  # the field registry reads this model

        return describe(self)

    def clean(self) -> None:
        from campaigns.segments.conditions import validate

        validate(self)


class SegmentMember(models.Model):
    """A member of a static segment."""

    # no index of its own: the unique (segment, member) one starts with it, and every index costs a
    # write per row of a list saved at once (a million rows)
    segment = models.ForeignKey(
        Segment, verbose_name=_("segment"), on_delete=models.CASCADE, related_name="listed", db_index=False
    )
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="+")
    added_at = models.DateTimeField(_("added at"), auto_now_add=True)

    class Meta:
        verbose_name = _("listed member")
        verbose_name_plural = _("listed members")
        constraints = [models.UniqueConstraint(fields=["segment", "member"], name="segment_member_once")]

    def __str__(self) -> str:
        return f"{self.segment} · {self.member}"


class TagRule(models.Model):
    """A tag kept equal to a segment: every night its members get the tag and everyone else with
    it loses it. The rule owns its tag: a tag given by hand to someone outside the segment goes
    at the next run, so a tag has at most one rule."""

    tag = models.OneToOneField(Tag, verbose_name=_("tag"), on_delete=models.PROTECT, related_name="+")
    segment = models.ForeignKey(
        Segment, verbose_name=_("segment"), on_delete=models.PROTECT, related_name="+"
    )
    is_active = models.BooleanField(_("active"), default=True)
    last_run_at = models.DateTimeField(_("last run"), null=True, editable=False)
    last_added = models.PositiveIntegerField(_("tagged at the last run"), null=True, editable=False)
    last_removed = models.PositiveIntegerField(_("untagged at the last run"), null=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        null=True,
        editable=False,
        related_name="+",
    )

    _history_user: Any
    history = HistoricalRecords(
        verbose_name=_("historical tag rule"), excluded_fields=["last_run_at", "last_added", "last_removed"]
    )

    class Meta:
        verbose_name = _("tag rule")
        verbose_name_plural = _("tag rules")
        ordering = ["tag__name"]

    def __str__(self) -> str:
        return f"{self.tag} ← {self.segment}"
