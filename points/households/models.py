"""Households (家庭账户): members under a head who share points by the household's rules.

Each member earns into their own account. Who may spend from the pool (the other members'
spendable points), the monthly cap of pool points per spending member, and what happens to the
points a member transferred to the head when they leave are the household's rules. What moved
between members is in the ledger (``pool`` and ``transfer`` entries); the rows here say which
movements belong to the household: ``PoolDraw`` (a spend drew on another member's points) and
``HouseholdTransfer`` (a member gave points to the head).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from members.models import Member
from points.models import Entry


class Household(models.Model):
    """A household: its head, its rules, and whether it still exists (members: ``memberships``)."""

    class Spenders(models.TextChoices):
        HEAD = "head", _("Only the head may spend the pool")
        ALL = "all", _("Every member may spend the pool")

    class OnLeave(models.TextChoices):
        KEEP = "keep", _("Nothing moves: the member keeps their own points, the head keeps what was given")
        RETURN = (
            "return",
            _("What the member gave the head and the head has not spent goes back to the member"),
        )

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        DISSOLVED = "dissolved", _("Dissolved")

    name = models.CharField(pgettext_lazy("thing", "name"), max_length=50)
    head = models.ForeignKey(
        Member, verbose_name=_("head"), on_delete=models.PROTECT, related_name="households_headed"
    )
    pool_spenders = models.CharField(
        _("who may spend the pool"), max_length=10, choices=Spenders.choices, default=Spenders.HEAD
    )
    monthly_cap = models.PositiveIntegerField(
        _("monthly pool cap per spender"),
        default=0,
        help_text=_("Most points one member may draw from the others in a calendar month; 0 = no cap."),
    )
    on_leave = models.CharField(
        _("settlement on leaving"), max_length=10, choices=OnLeave.choices, default=OnLeave.KEEP
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(_("created at"))
    dissolved_at = models.DateTimeField(_("dissolved at"), null=True, blank=True)

    # What simple-history's save() reads as the history row's author (services set it).
    _history_user: Any
    history = HistoricalRecords(verbose_name=_("historical household"))

    class Meta:
        verbose_name = _("household")
        verbose_name_plural = _("households")
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name

    def may_spend_pool(self, membership: HouseholdMembership) -> bool:
        if self.status != self.Status.ACTIVE:
            return False
        return self.pool_spenders == self.Spenders.ALL or membership.role == HouseholdMembership.Role.HEAD


class HouseholdMembership(models.Model):
    """A member's time in a household; ``left_at`` set once they left (or it was dissolved)."""

    class Role(models.TextChoices):
        HEAD = "head", _("Head")
        MEMBER = "member", _("Member")

    household = models.ForeignKey(
        Household, verbose_name=_("household"), on_delete=models.PROTECT, related_name="memberships"
    )
    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="household_memberships"
    )
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(_("joined at"))
    left_at = models.DateTimeField(_("left at"), null=True, blank=True)
    settled_points = models.PositiveIntegerField(
        _("points returned on leaving"), default=0, help_text=_("Settled by the household's rule.")
    )

    class Meta:
        verbose_name = _("household member")
        verbose_name_plural = _("household members")
        ordering = ["joined_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member"], condition=Q(left_at__isnull=True), name="household_one_per_member"
            ),
            models.UniqueConstraint(
                fields=["household"],
                condition=Q(left_at__isnull=True, role="head"),
                name="household_one_head",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.household} · {self.member}"


class PoolDraw(models.Model):
    """Points a spend drew from another member of the household (a pair of ``pool`` entries:
    out of the giver's account, into the spender's, which the spend then used)."""

    household = models.ForeignKey(
        Household, verbose_name=_("household"), on_delete=models.PROTECT, related_name="draws"
    )
    spender = models.ForeignKey(Member, verbose_name=_("spender"), on_delete=models.PROTECT, related_name="+")
    giver = models.ForeignKey(
        Member, verbose_name=_("whose points"), on_delete=models.PROTECT, related_name="+"
    )
    points = models.PositiveIntegerField(_("points"))
    spend = models.ForeignKey(
        Entry, verbose_name=_("spend"), on_delete=models.PROTECT, related_name="pool_draws"
    )
    out_entry = models.OneToOneField(
        Entry, verbose_name=_("out of the giver"), on_delete=models.PROTECT, related_name="+"
    )
    in_entry = models.OneToOneField(
        Entry, verbose_name=_("into the spender"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("drawn at"))
    returned_at = models.DateTimeField(
        _("returned at"), null=True, blank=True, help_text=_("The spend was refunded: the points went back.")
    )
    return_entry = models.OneToOneField(
        Entry,
        verbose_name=_("returned by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("pool draw")
        verbose_name_plural = _("pool draws")
        ordering = ["-id"]
        constraints = [models.CheckConstraint(condition=Q(points__gt=0), name="pooldraw_positive")]
        indexes = [models.Index(fields=["spender", "created_at"], name="pooldraw_spender_month")]

    def __str__(self) -> str:
        return f"{self.points}"


class HouseholdTransfer(models.Model):
    """Points a member gave the head (a pair of ``transfer`` entries keeping expiry dates)."""

    household = models.ForeignKey(
        Household, verbose_name=_("household"), on_delete=models.PROTECT, related_name="transfers"
    )
    member = models.ForeignKey(
        Member, verbose_name=_("from member"), on_delete=models.PROTECT, related_name="+"
    )
    points = models.PositiveIntegerField(_("points"))
    in_entry = models.OneToOneField(
        Entry, verbose_name=_("entry of the head"), on_delete=models.PROTECT, related_name="+"
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, unique=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(_("transferred at"))

    class Meta:
        verbose_name = _("transfer to the head")
        verbose_name_plural = _("transfers to the head")
        ordering = ["-id"]
        constraints = [models.CheckConstraint(condition=Q(points__gt=0), name="householdtransfer_positive")]

    def __str__(self) -> str:
        return f"{self.points}"
