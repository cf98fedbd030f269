"""PIPL: erasure requests (approved by a second person), retention settings, and the log of who
saw members' personal data unmasked. Writes go through ``members.privacy.services``."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from members.models import Member


class PrivacySettings(models.Model):
    """How long staged personal data is kept. One row (pk 1)."""

    import_rows_days = models.PositiveSmallIntegerField(
        _("keep imported files' rows for (days)"),
        default=90,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text=_("Then a finished import's file and row values are deleted (its counts stay)."),
    )
    api_answers_hours = models.PositiveSmallIntegerField(
        _("keep partners' stored answers for (hours)"),
        default=48,
        validators=[MinValueValidator(24), MaxValueValidator(48)],
        help_text=_("Answers replayed to partners' retries: at least the 24 hours the API promises."),
    )

    history = HistoricalRecords(verbose_name=_("historical privacy settings"))

    class Meta:
        verbose_name = _("privacy settings")
        verbose_name_plural = _("privacy settings")

    def __str__(self) -> str:
        return str(_("Privacy settings"))

    @classmethod
    def current(cls) -> PrivacySettings:
        return cls.objects.get_or_create(pk=1)[0]


class ErasureRequest(models.Model):
    """A member's personal data to be erased everywhere; done when a second person approves."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        DONE = "done", _("Erased")
        REJECTED = "rejected", _("Rejected")

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="erasure_requests"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(
        _("reason"), max_length=200, help_text=_("The member's request: when and how it came.")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requested by"), on_delete=models.PROTECT, related_name="+"
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
    erased = models.JSONField(_("what was erased"), default=list, blank=True)

    class Meta:
        verbose_name = _("erasure request")
        verbose_name_plural = _("erasure requests")
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member"], condition=Q(status="pending"), name="erasure_one_pending"
            )
        ]
        permissions = [("approve_erasurerequest", _("Can approve erasures of personal data"))]

    def __str__(self) -> str:
        return f"{self.member.member_number} · {self.get_status_display()}"


class AccessLog(models.Model):
    """Someone saw or took a member's personal data unmasked (PIPL art. 51: who, when, what)."""

    class What(models.TextChoices):
        MEMBER_PAGE = "member_page", _("Opened the member page with full personal data")
        MEMBER_EXPORT = "member_export", _("Exported members with full personal data")
        PERSONAL_DATA = "personal_data", _("Downloaded all of a member's personal data")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.PROTECT, related_name="+"
    )
    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    what = models.CharField(_("what"), max_length=16, choices=What.choices)
    count = models.PositiveIntegerField(_("members"), default=1)
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("personal data access")
        verbose_name_plural = _("personal data access log")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["-at"], name="access_recent"),
            models.Index(fields=["member", "-at"], name="access_member"),
            models.Index(fields=["user", "-at"], name="access_user"),
        ]
        permissions = [("export_personal_data", _("Can download a member's personal data (PIPL)"))]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_what_display()}"
