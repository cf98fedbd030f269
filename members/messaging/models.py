"""Messages to members: templates, the outbox, and what the recording provider captured.

A ``Message`` row is the outbox: written by ``services.message_queue`` in the transaction of the
fact that caused it (so a rolled-back fact sends nothing), already rendered, with the checks'
verdict (blocked rows stay, with their reason, so an operator sees why someone got nothing).
Workers send due rows after commit (``services.messages_send_due``).
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from members.models import ConsentChannel, Member


class Channel(models.TextChoices):
    SMS = "sms", _("SMS")
    WECHAT = "wechat", _("WeChat")
    EMAIL = "email", _("Email")
    INBOX = "inbox", _("App inbox")


#: The consent each channel needs. The app's inbox is read inside the brand's own app, where the
#: member chose to be: it needs no marketing consent of its own.
CONSENT_OF: dict[str, str | None] = {
    Channel.SMS: ConsentChannel.SMS,
    Channel.WECHAT: ConsentChannel.WECHAT,
    Channel.EMAIL: ConsentChannel.EMAIL,
    Channel.INBOX: None,
}


class Kind(models.TextChoices):
    MARKETING = "marketing", _("Marketing")
    SERVICE = "service", _("Service notice")


class MessagingSettings(models.Model):
    """The one row of sending rules (pk 1), edited by operators."""

    quiet_from = models.TimeField(_("quiet hours from"), default=datetime.time(21))
    quiet_until = models.TimeField(_("quiet hours until"), default=datetime.time(9))
    daily_cap = models.PositiveSmallIntegerField(
        _("marketing messages per member per day"), default=2, validators=[MinValueValidator(1)]
    )
    weekly_cap = models.PositiveSmallIntegerField(
        _("marketing messages per member per week"), default=5, validators=[MinValueValidator(1)]
    )
    unsubscribe_keywords = models.CharField(
        _("unsubscribe reply keywords"),
        max_length=100,
        default="TD 退订 T N",
        help_text=_("A reply to an SMS that is one of these words (any case) withdraws SMS consent."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    _history_user: Any
    history = HistoricalRecords(
        verbose_name=_("historical messaging settings"), excluded_fields=["updated_at"]
    )

    class Meta:
        verbose_name = _("messaging settings")
        verbose_name_plural = _("messaging settings")

    def __str__(self) -> str:
        return str(_("messaging settings"))

    @classmethod
    def current(cls) -> MessagingSettings:
        return cls.objects.get_or_create(pk=1)[0]


class Template(models.Model):
    """What a message says, per channel and language, with {variables} filled per member."""

    class Language(models.TextChoices):
        ZH_HANS = "zh-hans", "简体中文"
        EN = "en", "English"

    code = models.SlugField(
        _("code"), max_length=40, help_text=_("What the message is for; journeys pick templates by it.")
    )
    name = models.CharField(pgettext_lazy("thing", "name"), max_length=60)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    language = models.CharField(
        _("language"), max_length=8, choices=Language.choices, default=Language.ZH_HANS
    )
    subject = models.CharField(_("subject"), max_length=100, blank=True, help_text=_("Email and inbox only."))
    body = models.TextField(_("text"))
    wechat_template_id = models.CharField(
        _("WeChat template id"),
        max_length=64,
        blank=True,
        help_text=_("The subscribe message's template in WeChat."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    _history_user: Any
    history = HistoricalRecords(verbose_name=_("historical message template"), excluded_fields=["updated_at"])

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["code", "channel", "language"]
        constraints = [
            models.UniqueConstraint(fields=["code", "channel", "language"], name="template_once_per_language")
        ]

    def __str__(self) -> str:
        return f"{self.name} · {self.get_channel_display()} · {self.get_language_display()}"

    def clean(self) -> None:
        from members.messaging.rendering import template_errors  # the variables' list reads no model

        template_errors(self)


class Message(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")
        BLOCKED = "blocked", _("Not sent")

    class Reason(models.TextChoices):
        NO_CONSENT = "no_consent", _("No consent for this channel")
        NO_ADDRESS = "no_address", _("No address on this channel")
        DAILY_CAP = "daily_cap", _("Daily cap reached")
        WEEKLY_CAP = "weekly_cap", _("Weekly cap reached")
        INACTIVE = "inactive", _("Member not active")

    member = models.ForeignKey(
        Member,
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # message_member_time leads with the member
    )
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    kind = models.CharField(
        _("kind"),
        max_length=10,
        choices=Kind.choices,
        default=Kind.MARKETING,
        help_text=_(
            "Marketing needs consent, quiet hours and caps; service notices (codes, receipts) go at once."
        ),
    )
    template = models.ForeignKey(
        Template,
        verbose_name=_("template"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    source = models.CharField(_("source"), max_length=64, blank=True, help_text=_("What caused it."))
    key = models.CharField(_("idempotency key"), max_length=128, unique=True)
    recipient = models.CharField(_("to"), max_length=254, blank=True)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("text"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    reason = models.CharField(_("why not sent"), max_length=12, choices=Reason.choices, blank=True)
    send_after = models.DateTimeField(_("send after"))
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=200, blank=True)
    provider_ref = models.CharField(_("provider's reference"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created at"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        indexes = [
            # the workers' queue: due rows only
            models.Index(fields=["send_after"], name="message_due", condition=Q(status="queued")),
            # caps, the member page and the inbox
            models.Index(fields=["member", "created_at"], name="message_member_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} #{self.pk}"


class RecordedMessage(models.Model):
    """What the recording provider (the default) captured instead of sending: exactly what would
    have gone out. One per message: a message sent twice would fail its unique constraint."""

    message = models.OneToOneField(
        Message, verbose_name=_("message"), on_delete=models.PROTECT, related_name="recorded"
    )
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    recipient = models.CharField(_("to"), max_length=254, blank=True)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("text"))
    recorded_at = models.DateTimeField(_("recorded at"))
    worker = models.CharField(_("worker"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("recorded message")
        verbose_name_plural = _("recorded messages")

    def __str__(self) -> str:
        return f"{self.get_channel_display()} → {self.recipient}"


class SendRate(models.Model):
    """A channel's rate limit, shared by every worker process: the earliest moment (seconds since
    the epoch) its next message may go. Taken by one conditional UPDATE (``rates.rate_take``)."""

    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices, primary_key=True)
    next_at = models.FloatField(_("next send at"), default=0.0)

    class Meta:
        verbose_name = _("send rate")
        verbose_name_plural = _("send rates")

    def __str__(self) -> str:
        return str(self.get_channel_display())
