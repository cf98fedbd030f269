"""The points ledger: point types, accounts, append-only entries, lots and their allocations.

Balances, as cached on ``Account`` and proven by ``manage.py reconcile_points``:

- ``available + pending == sum(entry.amount)``: entries are the truth, the cache follows them;
- ``pending == sum(remaining of pending lots)``;
- ``available == sum(remaining of available lots) - debt``;
- ``debt > 0`` only when a reversal took back points that were already spent (the member owes
  them; ``available`` is negative and the account is flagged for review). New points pay the
  debt first, so while there is debt no lot has anything remaining.

Every point that leaves a lot (spend, expiry, reversal, transfer, negative adjustment, paying a
debt) is recorded as a ``LotAllocation`` from an entry to the lot, so it traces back to where it
was earned.
"""

from __future__ import annotations

from typing import NoReturn

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from members.models import Member


class PointType(models.Model):
    """A kind of wallet: 积分 (redeemable, expiring) or 成长值 (tier-qualifying, never spent)."""

    class Expiry(models.TextChoices):
        NEVER = "never", _("Never")
        ROLLING = "rolling", _("Rolling: N months after earning")
        CALENDAR = "calendar", _("Calendar clear-out: 31 Dec of the year N years after earning")

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=50)
    redeemable = models.BooleanField(_("redeemable"), default=True, help_text=_("Can be spent on rewards."))
    expiry_policy = models.CharField(
        _("expiry policy"), max_length=10, choices=Expiry.choices, default=Expiry.NEVER
    )
    expiry_period = models.PositiveSmallIntegerField(
        _("expiry period"),
        default=12,
        help_text=_("Months for a rolling expiry; years after the earning year for a calendar clear-out."),
    )
    pending_days = models.PositiveSmallIntegerField(
        _("pending days"), default=0, help_text=_("Return window: days before earned points can be spent.")
    )
    cny_value = models.DecimalField(
        _("value of one point (CNY)"),
        max_digits=10,
        decimal_places=4,
        default=0,
        help_text=_("For the liability."),
    )
    approval_threshold = models.PositiveIntegerField(
        _("adjustments needing approval above"),
        default=1000,
        help_text=_("Manual adjustments larger than this many points wait for a second person's approval."),
    )

    history = HistoricalRecords(verbose_name=_("historical point type"))

    class Meta:
        verbose_name = _("point type")
        verbose_name_plural = _("point types")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expiry_policy="never") | Q(expiry_period__gt=0), name="pointtype_period"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Account(models.Model):
    """One member's balance of one point type; a cache of its entries and lots (see module doc)."""

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="point_accounts"
    )
    point_type = models.ForeignKey(PointType, verbose_name=_("point type"), on_delete=models.PROTECT)
    available = models.BigIntegerField(_("available"), default=0)
    pending = models.BigIntegerField(_("pending"), default=0)
    debt = models.BigIntegerField(_("owed"), default=0, help_text=_("Points reversed after they were spent."))
    earned = models.BigIntegerField(_("earned (lifetime)"), default=0)
    spent = models.BigIntegerField(_("spent (lifetime)"), default=0)
    expired = models.BigIntegerField(_("expired (lifetime)"), default=0)
    flagged_at = models.DateTimeField(_("flagged for review at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("points account")
        verbose_name_plural = _("points accounts")
        constraints = [
            models.UniqueConstraint(fields=["member", "point_type"], name="account_one_per_type"),
            models.CheckConstraint(condition=Q(pending__gte=0) & Q(debt__gte=0), name="account_non_negative"),
        ]
        indexes = [models.Index(fields=["point_type", "-available"], name="account_type_balance")]
        permissions = [
            ("adjust_account", _("Can request manual points adjustments")),
            ("approve_adjustment", _("Can approve manual points adjustments")),
            ("view_liability", _("Can see the points liability report")),
        ]

    def __str__(self) -> str:
        return f"{self.member} · {self.point_type}"

    @property
    def balance(self) -> int:
        return self.available + self.pending


class Source(models.TextChoices):
    PURCHASE = "purchase", _("Purchase")
    EVENT = "event", _("Behaviour event")
    CAMPAIGN = "campaign", _("Campaign")
    REDEMPTION = "redemption", _("Redemption")
    OPERATOR = "operator", _("Operator")
    PARTNER = "partner", _("Partner")
    SYSTEM = "system", _("System (expiry, transfer, merge)")
    MIGRATION = "migration", _("Moved in from an old system")


class EntryQuerySet(models.QuerySet):
    """Entries are append-only: the ORM refuses bulk updates and deletes."""

    def update(self, **kwargs):
        raise TypeError("points entries are append-only: post a reversing entry instead")

    def delete(self) -> NoReturn:
        raise TypeError("points entries are append-only: post a reversing entry instead")

    def _raw_delete(self, using: str | None = None) -> NoReturn:
        raise TypeError("points entries are append-only: post a reversing entry instead")


class Entry(models.Model):
    """One movement of points. Never updated or deleted (on PostgreSQL a trigger enforces it)."""

    class Kind(models.TextChoices):
        EARN = "earn", _("Earn")
        SPEND = "spend", _("Spend")
        REVERSE = "reverse", _("Reverse")
        ADJUST = "adjust", _("Adjustment")
        EXPIRE = "expire", _("Expiry")
        TRANSFER = "transfer", _("Transfer")
        REFUND = "refund", _("Refund of a spend")
        MERGE = "merge", _("Member merge")
        OPENING = "opening", _("Opening balance (migration)")
        POOL = "pool", _("Household pool")

    account = models.ForeignKey(  # indexed by the composite indexes below, which lead with it
        Account, verbose_name=_("account"), on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    amount = models.BigIntegerField(_("amount"))
    balance_after = models.BigIntegerField(
        _("balance after"), help_text=_("Available plus pending after this entry.")
    )
    source = models.CharField(_("source"), max_length=12, choices=Source.choices)
    source_ref = models.CharField(_("source reference"), max_length=64, blank=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=128, unique=True)
    fingerprint = models.CharField(
        _("request fingerprint"),
        max_length=64,
        editable=False,
        help_text=_("What was asked, to tell a retry from a clash."),
    )
    created_at = models.DateTimeField(_("posted at"), db_index=True)

    objects = EntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("points entry")
        verbose_name_plural = _("points entries")
        ordering = ["-id"]
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="entry_amount_not_zero")]
        indexes = [
            models.Index(fields=["account", "-id"], name="entry_account_recent"),
            # what one account earned in a window (tier qualification); without it small
            # ledgers got plans reading a whole year of entries per member
            models.Index(fields=["account", "created_at"], name="entry_account_time"),
            # the nightly risk scan reads one day's transfers (few) out of the whole ledger
            models.Index(fields=["created_at"], name="entry_transfer_time", condition=Q(kind="transfer")),
        ]
        permissions = [("export_entry", _("Can export points entries"))]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount:+d}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise TypeError("points entries are append-only: post a reversing entry instead")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("points entries are append-only: post a reversing entry instead")


class Lot(models.Model):
    """Points earned together, spent and expiring together. Created by each positive entry
    (a transfer in creates one lot per expiry date it received)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        AVAILABLE = "available", _("Available")

    account = models.ForeignKey(
        Account, verbose_name=_("account"), on_delete=models.PROTECT, related_name="lots"
    )
    entry = models.ForeignKey(
        Entry, verbose_name=_("earned by"), on_delete=models.PROTECT, related_name="lots"
    )
    source = models.CharField(_("source"), max_length=12, choices=Source.choices)
    source_ref = models.CharField(_("source reference"), max_length=64, blank=True)
    amount = models.BigIntegerField(_("amount"))
    remaining = models.BigIntegerField(_("remaining"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    available_at = models.DateTimeField(_("available from"))
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)

    class Meta:
        verbose_name = _("lot")
        verbose_name_plural = _("lots")
        constraints = [
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=models.F("amount")),
                name="lot_remaining_in_range",
            ),
        ]
        indexes = [
            # spend order: soonest-expiring first among what is open on the account; with what
            # is left, so a member's next expiry is read from the index alone (no lot rows)
            models.Index(
                fields=["account", "expires_at", "id"],
                name="lot_open_by_expiry",
                condition=Q(remaining__gt=0),
                include=["remaining"],
            ),
            models.Index(fields=["available_at"], name="lot_pending_due", condition=Q(status="pending")),
            # what expires in a window, per account: the expiry job and segments on expiring points
            # read it from the index alone
            models.Index(
                fields=["expires_at"],
                name="lot_expiry_due",
                condition=Q(remaining__gt=0),
                include=["account", "remaining"],
            ),
            models.Index(fields=["account", "source", "source_ref"], name="lot_by_source"),
        ]

    def __str__(self) -> str:
        return f"{self.remaining}/{self.amount}"


class CarriedTotals(models.Model):
    """An account's lifetime counters from the old system it was moved in from (数据迁移).

    ``Account.earned``/``spent``/``expired`` count them too, so a member's history and the
    breakage rate start with what the old system knew; ``ledger_problems`` checks the counters
    as entries plus these. Written once per account, by the migration of opening balances.
    """

    account = models.OneToOneField(
        Account, verbose_name=_("account"), on_delete=models.PROTECT, primary_key=True, related_name="carried"
    )
    earned = models.BigIntegerField(_("earned before the move"), default=0)
    spent = models.BigIntegerField(_("spent before the move"), default=0)
    expired = models.BigIntegerField(_("expired before the move"), default=0)
    source_ref = models.CharField(_("source reference"), max_length=64)
    created_at = models.DateTimeField(_("moved in at"))

    class Meta:
        verbose_name = _("totals from the old system")
        verbose_name_plural = _("totals from the old system")
        constraints = [
            models.CheckConstraint(
                condition=Q(earned__gte=0) & Q(spent__gte=0) & Q(expired__gte=0), name="carried_non_negative"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account}: {self.earned}/{self.spent}/{self.expired}"


class LotAllocation(models.Model):
    """How many points of which lot an outgoing entry took: spends trace back to their earns."""

    entry = models.ForeignKey(
        Entry, verbose_name=_("entry"), on_delete=models.PROTECT, related_name="allocations"
    )
    lot = models.ForeignKey(Lot, verbose_name=_("lot"), on_delete=models.PROTECT, related_name="allocations")
    amount = models.BigIntegerField(_("amount"))

    class Meta:
        verbose_name = _("lot allocation")
        verbose_name_plural = _("lot allocations")
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="allocation_positive")]

    def __str__(self) -> str:
        return f"{self.amount} ← {self.lot}"


class AdjustmentRequest(models.Model):
    """A manual adjustment above the approval threshold, waiting for a second person (maker-checker)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        POSTED = "posted", _("Approved and posted")
        REJECTED = "rejected", _("Rejected")

    account = models.ForeignKey(
        Account, verbose_name=_("account"), on_delete=models.PROTECT, related_name="adjustment_requests"
    )
    amount = models.BigIntegerField(_("amount"))
    reason = models.CharField(_("reason"), max_length=200)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requested by"), on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(_("requested at"))
    idempotency_key = models.CharField(_("idempotency key"), max_length=128, unique=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.CharField(_("decision note"), max_length=200, blank=True)
    entry = models.OneToOneField(
        Entry,
        verbose_name=_("posted entry"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("adjustment request")
        verbose_name_plural = _("adjustment requests")
        ordering = ["-requested_at"]
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="adjustment_amount_not_zero")]

    def __str__(self) -> str:
        return f"{self.amount:+d} · {self.get_status_display()}"
