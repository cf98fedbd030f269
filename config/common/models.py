"""Programme configuration under maker-checker: a change waits as a draft until someone else approves.

The building block has no domain: it points at any model (``ContentType``) and keeps the change
as field values, so each app only says which of its models and fields are governed
(``config.common.governance.govern``).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class ConfigChange(models.Model):
    """One change to one configuration row: made by one user, approved by another.

    ``changes`` lists ``{"field", "before", "after"}`` with the values as stored in JSON
    (a foreign key as its id, a decimal as text); a new row has no ``before``, a deleted row no
    ``after``. ``effective_at`` is when the change took effect: the earning engine undoes the
    changes effective after a fact's time, so a late fact earns by the rules of its time.
    """

    class Action(models.TextChoices):
        CREATE = "create", _("Add")
        UPDATE = "update", _("Change")
        DELETE = "delete", _("Delete")

    class Status(models.TextChoices):
        SUBMITTED = "submitted", _("Waiting for approval")
        SCHEDULED = "scheduled", _("Approved, takes effect later")
        APPLIED = "applied", _("In effect")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        FAILED = "failed", _("Could not take effect")

    content_type = models.ForeignKey(
        ContentType, verbose_name=_("kind of setting"), on_delete=models.PROTECT, related_name="+"
    )
    object_id = models.BigIntegerField(
        _("row"), null=True, blank=True, help_text=_("Empty until a new row exists.")
    )
    object_repr = models.CharField(_("setting"), max_length=200)
    action = models.CharField(_("action"), max_length=8, choices=Action.choices, default=Action.UPDATE)
    changes = models.JSONField(_("changes"), default=list)
    note = models.CharField(_("why"), max_length=300, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.SUBMITTED)
    effective_from = models.DateTimeField(
        _("effective from"), null=True, blank=True, help_text=_("Empty: as soon as it is approved.")
    )
    effective_at = models.DateTimeField(_("took effect at"), null=True, blank=True)
    made_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("made by"), on_delete=models.PROTECT, related_name="+"
    )
    made_at = models.DateTimeField(_("made at"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    failure = models.CharField(_("why it could not take effect"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("programme change")
        verbose_name_plural = _("programme changes")
        ordering = ["-made_at", "-id"]
        permissions = [("approve_configchange", _("Can approve programme changes made by others"))]
        indexes = [
            # the approvers' queue and the job's due changes
            models.Index(fields=["status", "effective_from"], name="configchange_status"),
            # "which changes took effect after this fact?" (the earning engine)
            models.Index(
                fields=["content_type", "effective_at"],
                condition=Q(status="applied"),
                name="configchange_effective",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_action_display()} · {self.object_repr}"
