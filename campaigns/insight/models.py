"""Daily rollups: what every app's facts add up to per local day, and the settings of the pages.

Each rollup table holds one local day's totals by the dimensions the pages filter on. The job
(``rollups.day_rollup``) deletes a day's rows and writes them again from the facts, so a day
can be rolled up any number of times with the same result. Pages sum these rows (plus today,
aggregated live) and never scan a period of raw facts.

Dimensions: ``store`` and ``channel`` are the purchase's for sales, and the member's
registration store and channel for everything about members (joining, points, coupons,
redemptions); ``tier`` is the member's tier at the end of the day (the entry tier when none was
ever recorded). A null store is "no store" (online orders, members registered online).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from benefits.models import Benefit, Reward
from campaigns.models import Campaign
from members.models import Channel, Store
from points.models import PointType
from tiers.models import Tier


class InsightSettings(models.Model):
    """The one row of settings the insight pages read (pk 1)."""

    cost_target_percent = models.DecimalField(
        _("programme cost target (percent of sales)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("100"))],
        help_text=_("The dashboard compares the programme's cost with members' sales against this share."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    _history_user: Any
    history = HistoricalRecords(verbose_name=_("historical insight settings"), excluded_fields=["updated_at"])

    class Meta:
        verbose_name = _("insight settings")
        verbose_name_plural = _("insight settings")
        permissions = [
            ("view_programme", _("Can see the programme's insight pages")),
            ("view_finance", _("Can see the points roll-forward")),
            ("view_store", _("Can see their own stores' figures")),
        ]

    def __str__(self) -> str:
        return str(_("insight settings"))

    @classmethod
    def current(cls) -> InsightSettings:
        return cls.objects.get_or_create(pk=1)[0]


class _Day(models.Model):
    day = models.DateField(_("day"))

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.day}"


def _store() -> models.ForeignKey:
    return models.ForeignKey(
        Store, verbose_name=_("store"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )


def _tier(name: str = "tier", verbose: Any = None) -> models.ForeignKey:
    return models.ForeignKey(
        Tier, verbose_name=verbose or _("tier"), on_delete=models.PROTECT, null=True, related_name="+"
    )


class SalesDay(_Day):
    """Members' purchases and refunds of one day, by the purchase's store and channel."""

    store = _store()
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    tier = _tier()
    orders = models.PositiveIntegerField(_("orders"), default=0)
    sales = models.DecimalField(_("sales (CNY)"), max_digits=16, decimal_places=2, default=0)
    refunds = models.PositiveIntegerField(_("refunds"), default=0)
    refund_amount = models.DecimalField(_("refunded (CNY)"), max_digits=16, decimal_places=2, default=0)

    class Meta:
        verbose_name = _("sales by day")
        verbose_name_plural = _("sales by day")
        indexes = [models.Index(fields=["day", "store"], name="salesday_day_store")]


class MemberDay(_Day):
    """Members who joined on one day, by registration store and channel (all at the entry tier)."""

    store = _store()
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    joined = models.PositiveIntegerField(_("joined"), default=0)

    class Meta:
        verbose_name = _("new members by day")
        verbose_name_plural = _("new members by day")
        indexes = [models.Index(fields=["day", "store"], name="memberday_day_store")]


class TierMoveDay(_Day):
    """Tier changes of one day: from one tier to another (a null from is the entry tier)."""

    store = _store()
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    from_tier = _tier("from_tier", _("from tier"))
    to_tier = _tier("to_tier", _("to tier"))
    moves = models.PositiveIntegerField(_("members"), default=0)

    class Meta:
        verbose_name = _("tier changes by day")
        verbose_name_plural = _("tier changes by day")
        indexes = [models.Index(fields=["day", "store"], name="tiermoveday_day_store")]


class PointsDay(_Day):
    """Ledger movements of one day by point type, kind of entry and source."""

    point_type = models.ForeignKey(
        PointType, verbose_name=_("point type"), on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=10)
    source = models.CharField(_("source"), max_length=12)
    store = _store()
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    tier = _tier()
    amount = models.BigIntegerField(_("points"), default=0)
    entries = models.PositiveIntegerField(_("entries"), default=0)

    class Meta:
        verbose_name = _("points by day")
        verbose_name_plural = _("points by day")
        indexes = [
            models.Index(fields=["day", "store"], name="pointsday_day_store"),
            models.Index(fields=["point_type", "day"], name="pointsday_type_day"),
        ]


class RedemptionDay(_Day):
    """Rewards exchanged for points on one day, by reward and by where they were exchanged."""

    class Via(models.TextChoices):
        API = "api", _("Partner API (app, POS, shop)")
        ADMIN = "admin", _("Admin (counter, service desk)")

    reward = models.ForeignKey(Reward, verbose_name=_("reward"), on_delete=models.PROTECT, related_name="+")
    via = models.CharField(_("exchanged through"), max_length=8, choices=Via.choices)
    store = _store()
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    tier = _tier()
    redemptions = models.PositiveIntegerField(_("redemptions"), default=0)
    points = models.BigIntegerField(_("points"), default=0)

    class Meta:
        verbose_name = _("redemptions by day")
        verbose_name_plural = _("redemptions by day")
        indexes = [models.Index(fields=["day", "store"], name="redemptionday_day_store")]


class CouponDay(_Day):
    """Coupons issued, redeemed and expired on one day, by benefit."""

    benefit = models.ForeignKey(
        Benefit, verbose_name=_("benefit"), on_delete=models.PROTECT, related_name="+"
    )
    origin = models.CharField(_("from"), max_length=12)
    store = _store()
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    tier = _tier()
    issued = models.PositiveIntegerField(_("issued"), default=0)
    redeemed = models.PositiveIntegerField(_("redeemed"), default=0)
    expired = models.PositiveIntegerField(_("expired"), default=0)

    class Meta:
        verbose_name = _("coupons by day")
        verbose_name_plural = _("coupons by day")
        indexes = [models.Index(fields=["day", "store"], name="couponday_day_store")]


class ActiveDay(_Day):
    """Distinct members active (bought, did something, or exchanged points) in the ``window``
    days ending on ``day``, by the member's registration store and channel and tier. A member
    is in one cell only, so cells add up for any filter and still count each member once."""

    window = models.PositiveSmallIntegerField(_("days"))
    store = _store()
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    tier = _tier()
    buyers = models.PositiveIntegerField(_("members who bought"), default=0)
    active = models.PositiveIntegerField(_("members active"), default=0)

    class Meta:
        verbose_name = _("active members")
        verbose_name_plural = _("active members")
        indexes = [models.Index(fields=["day", "window"], name="activeday_lookup")]


class AwardDay(_Day):
    """What the earning rules gave on one day, by the kind of rule (base, tier multiplier,
    campaign, behaviour, benefit): where issued points come from, and what campaigns cost."""

    kind = models.CharField(_("kind"), max_length=10)
    point_type = models.ForeignKey(
        PointType, verbose_name=_("point type"), on_delete=models.PROTECT, null=True, related_name="+"
    )
    store = _store()
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    tier = _tier()
    amount = models.BigIntegerField(_("points"), default=0)
    cny = models.DecimalField(_("cost (CNY)"), max_digits=16, decimal_places=4, default=0)

    class Meta:
        verbose_name = _("awards by day")
        verbose_name_plural = _("awards by day")
        indexes = [models.Index(fields=["day", "store"], name="awardday_day_store")]


class BalanceDay(_Day):
    """Members' balances as the night's rollup found them: what is available, pending and owed.
    A snapshot (balances have no history to add up), so days before the first rollup have none."""

    point_type = models.ForeignKey(
        PointType, verbose_name=_("point type"), on_delete=models.PROTECT, related_name="+"
    )
    store = _store()
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    tier = _tier()
    available = models.BigIntegerField(_("available"), default=0)
    pending = models.BigIntegerField(_("pending"), default=0)
    owed = models.BigIntegerField(_("owed"), default=0)
    members = models.PositiveIntegerField(_("members with points"), default=0)

    class Meta:
        verbose_name = _("balances by day")
        verbose_name_plural = _("balances by day")
        indexes = [models.Index(fields=["day", "store"], name="balanceday_day_store")]


class ProfileCount(models.Model):
    """Who the members are, as the night's rollup found them (replaced every night): by store
    and channel of registration, tier, city, gender, age band and tenure."""

    store = _store()
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    tier = _tier()
    city = models.CharField(_("city"), max_length=30, blank=True)
    gender = models.CharField(_("gender"), max_length=8)
    age_band = models.CharField(_("age"), max_length=8)
    tenure_band = models.CharField(_("member for"), max_length=8)
    members = models.PositiveIntegerField(_("members"), default=0)

    class Meta:
        verbose_name = _("member profile count")
        verbose_name_plural = _("member profile counts")

    def __str__(self) -> str:
        return f"{self.members}"


class BehaviourCount(models.Model):
    """Buyers of the last scoring run by how often they bought and how many days lay between
    their purchases, by registration store and tier (replaced after every run)."""

    store = _store()
    tier = _tier()
    frequency_band = models.CharField(_("orders"), max_length=8)
    interval_band = models.CharField(_("days between purchases"), max_length=8)
    members = models.PositiveIntegerField(_("members"), default=0)
    orders = models.PositiveIntegerField(_("orders"), default=0)
    sales = models.DecimalField(_("sales (CNY)"), max_digits=16, decimal_places=2, default=0)

    class Meta:
        verbose_name = _("purchase behaviour count")
        verbose_name_plural = _("purchase behaviour counts")

    def __str__(self) -> str:
        return f"{self.frequency_band}/{self.interval_band}: {self.members}"


class CohortMonth(models.Model):
    """Members who joined in ``cohort`` (a month) and bought in ``month``, by registration store."""

    cohort = models.DateField(_("joined in"))
    month = models.DateField(_("month"))
    store = _store()
    buyers = models.PositiveIntegerField(_("members who bought"), default=0)

    class Meta:
        verbose_name = _("retention cohort")
        verbose_name_plural = _("retention cohorts")
        indexes = [models.Index(fields=["month"], name="cohortmonth_month")]

    def __str__(self) -> str:
        return f"{self.cohort:%Y-%m} → {self.month:%Y-%m}"


class CampaignFigures(models.Model):
    """A campaign's group (targeted or control) measured for its league table: recomputed while
    the campaign runs and for a while after, by the nightly job."""

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.PROTECT, related_name="+"
    )
    control = models.BooleanField(_("control group"))
    members = models.PositiveIntegerField(_("members"), default=0)
    buyers = models.PositiveIntegerField(_("members who bought"), default=0)
    sales = models.DecimalField(_("sales (CNY)"), max_digits=16, decimal_places=2, default=0)
    # Σ (each member's sales)²: with ``sales`` and ``members`` it gives the variance the
    # significance test needs, without keeping a row per member.
    sales_squares = models.DecimalField(max_digits=30, decimal_places=4, default=0)
    cost = models.DecimalField(_("cost (CNY)"), max_digits=16, decimal_places=4, default=0)
    measured_at = models.DateTimeField(_("measured at"))

    class Meta:
        verbose_name = _("campaign figures")
        verbose_name_plural = _("campaign figures")
        constraints = [models.UniqueConstraint(fields=["campaign", "control"], name="campaignfigures_once")]

    def __str__(self) -> str:
        return f"{self.campaign_id} {'control' if self.control else 'targeted'}"


class StoreSalesDay(_Day):
    """All of a store's sales on a day, members or not, as the brand's POS reports them: what
    members' share of sales and non-members' average order are computed against."""

    store = models.ForeignKey(Store, verbose_name=_("store"), on_delete=models.PROTECT, related_name="+")
    orders = models.PositiveIntegerField(_("orders"))
    sales = models.DecimalField(_("sales (CNY)"), max_digits=16, decimal_places=2)
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    history = HistoricalRecords(verbose_name=_("historical store sales"))

    class Meta:
        verbose_name = _("store sales (all customers)")
        verbose_name_plural = _("store sales (all customers)")
        constraints = [models.UniqueConstraint(fields=["store", "day"], name="storesalesday_once")]

    def __str__(self) -> str:
        return f"{self.store} {self.day}"


class RollupDay(models.Model):
    """A day the rollup has run for, when, and how long it took: the pages say how fresh their
    figures are, and the backfill knows which days to fill."""

    day = models.DateField(_("day"), unique=True)
    rolled_up_at = models.DateTimeField(_("rolled up at"))
    seconds = models.DecimalField(_("seconds"), max_digits=8, decimal_places=2)

    class Meta:
        verbose_name = _("rolled-up day")
        verbose_name_plural = _("rolled-up days")
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"{self.day}"
