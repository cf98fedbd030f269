"""Duplicate candidates (likely the same person twice) and merges of one member into another.

Writes go through ``members.oneid.services``; the merge record is the audit of what moved.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from members.models import Member


class DuplicateCandidate(models.Model):
    """A pair of members that look like one person, with the evidence; an operator decides."""

    class Reason(models.TextChoices):
        PHONE_FORM = "phone_form", _("Same phone written as another kind of id")
        UNIONID = "unionid", _("Same WeChat UnionID")
        CARD_FORM = "card_form", _("Same card number in another format")
        NAME_BIRTHDAY_CITY = "name_birthday_city", _("Same name, birthday and city")

    class Status(models.TextChoices):
        OPEN = "open", _("To decide")
        DISMISSED = "dismissed", _("Not the same person")
        MERGED = "merged", _("Merged")

    # first < second by id: one row per pair whichever way it was found
    first = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="+")
    second = models.ForeignKey(
        Member, verbose_name=_("possible duplicate"), on_delete=models.CASCADE, related_name="+"
    )
    reasons = models.JSONField(
        _("evidence"), default=list, help_text=_("Which signals matched, and on what.")
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    found_at = models.DateTimeField(_("found at"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        verbose_name = _("duplicate candidate")
        verbose_name_plural = _("duplicate candidates")
        ordering = ["-found_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["first", "second"], name="duplicate_pair_once"),
            models.CheckConstraint(condition=Q(first__lt=models.F("second")), name="duplicate_pair_ordered"),
        ]
        indexes = [
            models.Index(fields=["second"], name="duplicate_second"),
            models.Index(fields=["status", "-found_at"], name="duplicate_open", condition=Q(status="open")),
        ]

    def __str__(self) -> str:
        return f"{self.first} ≈ {self.second}"


class MemberMerge(models.Model):
    """One member absorbed into another: requested, approved when the policy asks, then done.

    ``moved`` lists what went over, as [{"what": code, "count": n, "detail": text}], worded by
    ``members.oneid.services.MOVED_LABELS`` when shown.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        DONE = "done", _("Merged")
        REJECTED = "rejected", _("Rejected")

    survivor = models.ForeignKey(
        Member, verbose_name=_("surviving member"), on_delete=models.PROTECT, related_name="merges_in"
    )
    absorbed = models.ForeignKey(
        Member, verbose_name=_("absorbed member"), on_delete=models.PROTECT, related_name="merges_out"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(_("reason"), max_length=200)
    approval_reasons = models.JSONField(
        _("why it needs approval"), default=list, blank=True, help_text=_("Empty: merged at once.")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    requested_at = models.DateTimeField(_("requested at"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("approved or rejected by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.CharField(_("decision note"), max_length=200, blank=True)
    merged_at = models.DateTimeField(_("merged at"), null=True, blank=True)
    moved = models.JSONField(_("what moved"), default=list, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=128, unique=True)

    class Meta:
        verbose_name = _("member merge")
        verbose_name_plural = _("member merges")
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(survivor=models.F("absorbed")), name="merge_two_members"),
            # a member is absorbed once: a second request waits for the first's decision
            models.UniqueConstraint(
                fields=["absorbed"], condition=~Q(status="rejected"), name="merge_absorbed_once"
            ),
        ]
        indexes = [
            models.Index(fields=["survivor"], name="merge_survivor"),
            models.Index(
                fields=["status", "-requested_at"], name="merge_pending", condition=Q(status="pending")
            ),
        ]
        permissions = [("approve_membermerge", _("Can approve member merges"))]

    def __str__(self) -> str:
        return f"{self.absorbed} → {self.survivor}"
