"""Who the members are: stores, members, their identities in other systems, tags, consents.

Writes go through ``members.services``; these models hold only single-row invariants.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField
from simple_history.models import HistoricalRecords


class Store(models.Model):
    """A physical or online point of sale. Store staff users are assigned to stores."""

    class Kind(models.TextChoices):
        OWN = "own", _("Own store")
        FRANCHISE = "franchise", _("Franchise / dealer")
        PARTNER = "partner", _("Partner")

    code = models.CharField(_("store code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    city = models.CharField(_("city"), max_length=50, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.OWN)
    is_active = models.BooleanField(_("active"), default=True)
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("store staff"),
        related_name="stores",
        blank=True,
        help_text=_("Users who work at this store: they import and redeem for it."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    history = HistoricalRecords(m2m_fields=[staff], verbose_name=_("historical store"))

    class Meta:
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Tag(models.Model):
    """An operator-defined label on members (e.g. "VIP 客户", "员工")."""

    name = models.CharField(_("name"), max_length=50, unique=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    history = HistoricalRecords(verbose_name=_("historical tag"))

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Gender(models.TextChoices):
    MALE = "male", _("Male")
    FEMALE = "female", _("Female")
    UNKNOWN = "unknown", _("Unknown")


class Channel(models.TextChoices):
    """Where something happened: registration, later purchases and events."""

    STORE = "store", _("Store (POS)")
    WECHAT_MINIPROGRAM = "wechat_mp", _("WeChat mini-program")
    WECHAT_OA = "wechat_oa", _("WeChat official account")
    TMALL = "tmall", _("Tmall")
    TAOBAO = "taobao", _("Taobao")
    JD = "jd", _("JD.com")
    DOUYIN = "douyin", _("Douyin")
    PINDUODUO = "pinduoduo", _("Pinduoduo")
    YOUZAN = "youzan", _("Youzan")
    APP = "app", _("App")
    WEBSITE = "website", _("Website")
    PARTNER = "partner", _("Partner")
    IMPORT = "import", _("Data import")
    OTHER = "other", _("Other")


class ConsentChannel(models.TextChoices):
    SMS = "sms", _("SMS")
    EMAIL = "email", _("Email")
    WECHAT = "wechat", _("WeChat")


class Member(models.Model):
    """A person in the programme.

    ``mobile`` is the primary phone in E.164; it is mirrored as a PHONE identity so that one
    unique index answers "whose phone is this?" for primary and secondary phones alike.
    The ``*_consent`` flags are the current marketing consents (for fast segment queries);
    ``ConsentRecord`` keeps the full PIPL trail of when each was given or withdrawn.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        FROZEN = "frozen", _("Frozen")
        CLOSED = "closed", _("Closed")

    member_number = models.CharField(_("member number"), max_length=16, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=50, blank=True)
    mobile = PhoneNumberField(_("mobile phone"), blank=True, null=True)
    email = models.EmailField(_("email"), blank=True)
    gender = models.CharField(_("gender"), max_length=8, choices=Gender.choices, default=Gender.UNKNOWN)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    province = models.CharField(_("province"), max_length=30, blank=True)
    city = models.CharField(_("city"), max_length=30, blank=True)
    registration_channel = models.CharField(
        _("registration channel"), max_length=16, choices=Channel.choices, default=Channel.STORE
    )
    registration_store = models.ForeignKey(
        Store,
        verbose_name=_("registration store"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="registered_members",
    )
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.ACTIVE)
    # Set while a risk case is open against the member (campaigns.risk.cases), read with the row
    # the earning pipeline and the spending services lock anyway: no extra query per purchase.
    hold_awards = models.BooleanField(
        _("awards held for risk review"),
        default=False,
        db_default=False,  # rows written in bulk outside the ORM (the scale seeder's COPY) start clear
        editable=False,
        help_text=_("Set while a risk case asks for it: what the member earns waits for review."),
    )
    block_spending = models.BooleanField(
        _("spending blocked for risk review"),
        default=False,
        db_default=False,
        editable=False,
        help_text=_("Set while a risk case asks for it: no spends, transfers or reward redemptions."),
    )
    require_code = models.BooleanField(
        _("member code required to spend"),
        default=False,
        db_default=False,
        editable=False,
        help_text=_(
            "While a risk case asks for it, even the brand's own systems need the member's code to spend."
        ),
    )
    sms_consent = models.BooleanField(_("SMS marketing consent"), default=False)
    email_consent = models.BooleanField(_("email marketing consent"), default=False)
    wechat_consent = models.BooleanField(_("WeChat marketing consent"), default=False)
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), related_name="members", blank=True)
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="absorbed_members",
        db_index=False,  # the partial index below: merged members are few
        help_text=_("The member this record was merged into (OneID); it is closed and holds nothing."),
    )
    created_at = models.DateTimeField(_("registered at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    # What simple-history's save() reads as the history row's author and reason: services set
    # them before saving when no admin request says who (simple-history has no stubs).
    _history_user: Any
    _change_reason: str

    history = HistoricalRecords(
        m2m_fields=[tags], verbose_name=_("historical member"), excluded_fields=["updated_at"]
    )

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["mobile"], condition=Q(mobile__isnull=False), name="member_mobile_unique"
            ),
        ]
        indexes = [
            # prefix search on names in the admin; opclass is used on PostgreSQL only
            models.Index(fields=["name"], name="member_name_prefix", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["registration_store", "-id"], name="member_store_recent"),
            # frozen and closed members are ~1%: operators filter for them, so index just those
            models.Index(fields=["status", "-id"], name="member_not_active", condition=~Q(status="active")),
            models.Index(
                fields=["merged_into"], name="member_merged", condition=Q(merged_into__isnull=False)
            ),
        ]
        permissions = [
            ("view_member_pii", _("Can see members' full personal data (unmasked)")),
            ("browse_member", _("Can list and search all members")),
            ("import_member", _("Can import members")),
            ("export_member", _("Can export members")),
        ]

    def __str__(self) -> str:
        # Shown in titles, breadcrumbs, logs and other apps' pages to every role: masked.
        from members.masking import mask_name

        return f"{self.member_number} {mask_name(self.name)}".strip()

    def consent(self, channel: str) -> bool:
        return getattr(self, f"{channel}_consent")


class Identity(models.Model):
    """One of a member's ids in another system. A value of a kind belongs to one member.

    ``namespace`` disambiguates ids that are only unique inside something: the WeChat app
    id for an OpenID, the platform for an e-commerce account, the partner for a partner id.
    """

    class Kind(models.TextChoices):
        CARD = "card", _("Membership card number")
        PHONE = "phone", _("Phone")
        WECHAT_UNIONID = "unionid", _("WeChat UnionID")
        WECHAT_OPENID = "openid", _("WeChat / mini-program OpenID")
        PLATFORM = "platform", _("E-commerce platform account")
        PARTNER = "partner", _("Partner id")
        #: a member who works for the brand; namespace: the code of their store
        EMPLOYEE = "employee", _("Employee number")

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="identities"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    namespace = models.CharField(
        _("namespace"),
        max_length=64,
        blank=True,
        default="",
        help_text=_(
            "WeChat app id for an OpenID, platform for a platform account, partner for a partner id."
        ),
    )
    value = models.CharField(_("value"), max_length=128)
    is_primary_phone = models.BooleanField(_("primary phone"), default=False, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    history = HistoricalRecords(verbose_name=_("historical identity"))

    class Meta:
        verbose_name = _("identity")
        verbose_name_plural = _("identities")
        ordering = ["kind", "id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "namespace", "value"], name="identity_unique_value"),
            models.CheckConstraint(condition=~Q(value=""), name="identity_value_not_empty"),
        ]
        indexes = [models.Index(fields=["value"], name="identity_value")]

    def __str__(self) -> str:
        # Shown as each inline row's title and in logs, to every role: masked like the member.
        return f"{self.get_kind_display()} {self.masked_value()}"

    def masked_value(self) -> str:
        from members.masking import mask_identifier, mask_phone

        if self.kind == self.Kind.PHONE:
            return mask_phone(self.value)
        if self.kind == self.Kind.CARD:
            return self.value  # printed on the card the member hands over at the till
        return mask_identifier(self.value)


class ConsentRecord(models.Model):
    """Append-only trail of marketing consents given and withdrawn (PIPL art. 14-15)."""

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="consent_records"
    )
    channel = models.CharField(_("channel"), max_length=8, choices=ConsentChannel.choices)
    granted = models.BooleanField(_("granted"))
    recorded_at = models.DateTimeField(_("recorded at"))
    source = models.CharField(
        _("source"), max_length=32, blank=True, help_text=_("Where it was captured: admin, import, API, POS.")
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        ordering = ["-recorded_at", "-id"]
        indexes = [models.Index(fields=["member", "channel", "-recorded_at"], name="consent_latest")]

    def __str__(self) -> str:
        state = _("given") if self.granted else _("withdrawn")
        return f"{self.get_channel_display()} {state}"
