"""Partners' webhook endpoints, the per-member sequence counters, and the events (the outbox).

A ``WebhookEvent`` row is both the event and its delivery: written by ``services.webhook_emit`` in
the transaction of the fact, one per subscribed partner that may see the member, with its body
already serialised (what is signed and sent, byte for byte, on every attempt and redelivery).
Workers deliver due rows after commit (``delivery.webhooks_deliver_due``).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from members.models import Member
from members.partners.models import Partner


class EventType(models.TextChoices):
    MEMBER_CREATED = "member.created", _("Member enrolled")
    MEMBER_UPDATED = "member.updated", _("Member's profile changed")
    POINTS_CHANGED = "points.changed", _("Points balance changed")
    POINTS_EXPIRING = "points.expiring", _("Points expiring soon")
    TIER_CHANGED = "tier.changed", _("Tier changed")
    COUPON_ISSUED = "coupon.issued", _("Coupon issued")
    COUPON_REDEEMED = "coupon.redeemed", _("Coupon redeemed")
    PURCHASE_AWARDED = "purchase.awarded", _("Purchase awarded")
    REVIEW_RELEASED = "review.released", _("Held award released after review")


class WebhookEndpoint(models.Model):
    """Where a partner wants its events, and which ones. One per partner.

    ``secret`` signs every delivery; after a rotation the previous one signs too until
    ``previous_secret_until``, so the partner can switch its verifier without losing events.
    """

    partner = models.OneToOneField(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE, related_name="webhook"
    )
    url = models.URLField(_("URL"), max_length=500, help_text=_("HTTPS address the events are POSTed to."))
    event_types = models.JSONField(_("events"), default=list, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    secret = models.CharField(_("signing secret"), max_length=64, editable=False)
    previous_secret = models.CharField(max_length=64, blank=True, editable=False)
    previous_secret_until = models.DateTimeField(
        _("previous secret valid until"), null=True, blank=True, editable=False
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["partner__code"]

    def __str__(self) -> str:
        return f"{self.partner.code} → {self.url}"


class WebhookSequence(models.Model):
    """The last sequence number given to a (partner, member) pair: the row is locked to take the
    next ones, so numbers are gapless and in commit order per member."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    last = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = _("webhook sequence counter")
        verbose_name_plural = _("webhook sequence counters")
        default_permissions = ()  # internal: no page, nobody is granted anything on it
        constraints = [
            models.UniqueConstraint(fields=["partner", "member"], name="webhook_sequence_once"),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id}/{self.member_id}: {self.last}"


class WebhookEvent(models.Model):
    """One event for one partner, and its delivery."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        SENDING = "sending", _("Sending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    event_id = models.UUIDField(_("event id"), default=uuid.uuid4, unique=True, editable=False)
    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE, related_name="+"
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint, verbose_name=_("endpoint"), on_delete=models.CASCADE, related_name="events"
    )
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="+")
    event_type = models.CharField(_("event"), max_length=20, choices=EventType.choices)
    key = models.CharField(_("idempotency key"), max_length=200)
    sequence = models.PositiveBigIntegerField(_("sequence"))
    body = models.TextField(_("body"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_try_at = models.DateTimeField(_("next try"))
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"))
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(_("response code"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(fields=["partner", "key"], name="webhook_event_once"),
            models.UniqueConstraint(fields=["partner", "member", "sequence"], name="webhook_sequence_unique"),
        ]
        indexes = [
            # the workers' queue: due rows only
            models.Index(fields=["next_try_at"], name="webhook_due", condition=Q(status="pending")),
            models.Index(fields=["partner", "created_at"], name="webhook_partner_time"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"
