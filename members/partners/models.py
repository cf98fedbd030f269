"""Partners, their keys, the members they may see, and the responses their retries get back."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from rest_framework_api_key.models import AbstractAPIKey
from simple_history.models import HistoricalRecords

from members.models import Member, Store


class Grant(models.TextChoices):
    """An operation a partner may be granted. The API checks one grant per endpoint."""

    MEMBERS_READ = "members.read", _("Look members up")
    MEMBERS_WRITE = "members.write", _("Enrol members and update their profiles")
    MEMBERS_CONTACT = "members.contact", _("See full phone numbers and email addresses")
    POINTS_READ = "points.read", _("Read balances and ledger history")
    POINTS_PAY = "points.pay", _("Take points as payment at the till (quote, hold, release)")
    PURCHASES_READ = "purchases.read", _("Read the purchases it posted")
    PURCHASES_WRITE = "purchases.write", _("Post purchases and refunds")
    EVENTS_WRITE = "events.write", _("Post behaviour events")
    PREVIEW = "preview", _("Preview the points of a basket")
    REWARDS_READ = "rewards.read", _("Read the rewards catalogue")
    REWARDS_REDEEM = "rewards.redeem", _("Redeem and cancel rewards")
    COUPONS_READ = "coupons.read", _("Read members' coupons and validate codes")
    COUPONS_REDEEM = "coupons.redeem", _("Redeem coupons at its stores")
    TIERS_READ = "tiers.read", _("Read tier status and progress")
    PLANS_SELL = "plans.sell", _("Sell paid plans (orders) and cancel them")


class PartnerKind(models.TextChoices):
    """Whose system it is: it decides which members a partner reaches and what it may change."""

    FIRST_PARTY = "first_party", _("First-party: the brand's own system (sees every member)")
    THIRD_PARTY = "third_party", _("Third-party: reaches a member only with the member's code")


class Partner(models.Model):
    """A system that integrates through the API, limited to its stores, channels and grants.

    Each partner acts through its own service user (never able to log in), so every change it
    makes is recorded with who did it, the same way an operator's change is.

    A first-party partner (the brand's POS, its mini-program) sees every member and may change
    who they are (mobile, identities). A third-party partner (a mall's POS, a franchise, a
    marketplace) sees the members it enrolled or was shown a member code for, and spends their
    points only during a visit opened by a code (see ``MemberCode``).
    """

    code = models.SlugField(
        _("code"), max_length=30, unique=True, help_text=_("Short and stable: it names its purchases.")
    )
    name = models.CharField(pgettext_lazy("partner", "name"), max_length=100)
    is_active = models.BooleanField(_("active"), default=True)
    kind = models.CharField(
        _("kind"),
        max_length=16,
        choices=PartnerKind.choices,
        default=PartnerKind.THIRD_PARTY,
        help_text=_(
            "For the brand's own systems only: they see every member and change mobiles and identities."
        ),
    )
    stores = models.ManyToManyField(
        Store,
        verbose_name=_("stores"),
        related_name="partners",
        blank=True,
        help_text=_("Stores it may post purchases and redeem coupons for."),
    )
    channels = models.JSONField(_("channels"), default=list, blank=True)
    grants = models.JSONField(_("granted operations"), default=list, blank=True)
    rate_per_minute = models.PositiveIntegerField(
        _("requests per minute per key"), default=600, help_text=_("Above it, requests get 429.")
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("service user"),
        on_delete=models.PROTECT,
        related_name="partner",
        editable=False,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    history = HistoricalRecords(verbose_name=_("historical partner"), m2m_fields=[stores])

    class Meta:
        verbose_name = _("API partner")
        verbose_name_plural = _("API partners")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def source(self) -> str:
        """The ``source`` of the purchases, refunds and events it posts."""
        return f"api:{self.code}"

    def has_grant(self, grant: str) -> bool:
        return grant in self.grants

    @property
    def is_first_party(self) -> bool:
        return self.kind == PartnerKind.FIRST_PARTY


class PartnerKey(AbstractAPIKey):
    """An API key of a partner: shown once when created, stored as a SHA-512 hash."""

    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE, related_name="keys"
    )

    history = HistoricalRecords(verbose_name=_("historical API key"))

    class Meta(AbstractAPIKey.Meta):
        # The library's Meta declares plain str; Django takes lazy text (a stub too narrow).
        verbose_name = _("API key")  # type: ignore[assignment]
        verbose_name_plural = _("API keys")  # type: ignore[assignment]


class PartnerMember(models.Model):
    """A member a (third-party) partner may see: it enrolled them, or was shown their member code.

    Members are the brand's, not the partner's; this link is what keeps partner B from
    reading the members partner A serves unless the customer showed up at B too.
    ``visit_until`` is the end of the visit the last member code opened: until then the
    partner may spend the member's points (a link alone is no licence to spend).
    """

    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE, related_name="member_links"
    )
    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="partner_links"
    )
    linked_at = models.DateTimeField(_("linked at"), auto_now_add=True)
    visit_until = models.DateTimeField(_("visit open until"), null=True, blank=True)

    class Meta:
        verbose_name = _("partner's member")
        verbose_name_plural = _("partners' members")
        constraints = [
            models.UniqueConstraint(fields=["partner", "member"], name="partner_member_once"),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id} -> {self.member_id}"


class MemberCode(models.Model):
    """A member code: what the brand's app shows at a till so a third-party partner may reach the
    member. Short-lived, single-use, issued by a first-party partner.

    The code itself is never stored: ``code_hash`` (an HMAC keyed with the server's secret) finds
    it when presented, and ``nonce`` re-derives it for a retry of the issuing request. A leaked
    row therefore gives neither the code nor a way to guess it.
    """

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="member_codes"
    )
    issued_by = models.ForeignKey(
        Partner, verbose_name=_("issued by"), on_delete=models.CASCADE, related_name="issued_codes"
    )
    #: SHA-256 of the issuing request's Idempotency-Key: its retry gets the same code back
    issue_key = models.CharField(max_length=64)
    nonce = models.CharField(max_length=32)
    code_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(_("issued at"))
    expires_at = models.DateTimeField(_("expires at"), db_index=True)
    redeemed_at = models.DateTimeField(_("redeemed at"), null=True, blank=True)
    redeemed_by = models.ForeignKey(
        Partner,
        verbose_name=_("redeemed by"),
        on_delete=models.CASCADE,
        related_name="redeemed_codes",
        null=True,
        blank=True,
    )

    class Meta:
        verbose_name = _("member code")
        verbose_name_plural = _("member codes")
        constraints = [
            models.UniqueConstraint(fields=["issued_by", "issue_key"], name="member_code_issued_once"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}@{self.created_at:%Y-%m-%d %H:%M:%S}"


class IdempotentRequest(models.Model):
    """The first response to a partner's POST with an ``Idempotency-Key``, for its retries."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # SHA-256 of method, path and the body's canonical JSON: the same key with another body is a 409
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(default=0)  # 0 while the first request runs
    content_type = models.CharField(max_length=100, blank=True)
    body = models.BinaryField(default=b"")
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "key"], name="idempotency_key_once"),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id}:{self.key}"
