"""A campaign: who it targets (trigger + conditions), what it gives (effects), within what limits.

Operators write a draft; an approver who is not the author approves it; only then can it be
scheduled and go live. Content is frozen once submitted (an operator who needs a change sends
it back to draft, and it must be approved again). Every change is in the history with who.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from benefits.models import Benefit
from config.common.states import TransitionRefused
from members.models import Store, Tag
from members.purchases.models import EventType
from tiers.models import Tier

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    from campaigns.journeys.models import Journey


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SUBMITTED = "submitted", _("Submitted for approval")
        APPROVED = "approved", _("Approved")
        SCHEDULED = "scheduled", _("Scheduled")
        ACTIVE = "active", pgettext_lazy("campaign status", "Active")
        PAUSED = "paused", _("Paused")
        ENDED = "ended", _("Ended")

    class Trigger(models.TextChoices):
        PURCHASE = "purchase", _("Purchase")
        EVENT = "event", _("Behaviour event")
        REGISTRATION = "registration", pgettext_lazy("campaign trigger", "Registration")
        BIRTHDAY = "birthday", _("Birthday")
        TIER_UPGRADE = "tier_upgrade", _("Tier upgrade")
        #: gives to the REFERRER when a member they referred makes a first purchase
        REFERRAL = "referral", _("Referee's first purchase (rewards the referrer)")

    class TimesPeriod(models.TextChoices):
        CAMPAIGN = "", _("in the whole campaign")
        MONTH = "month", _("per calendar month")
        YEAR = "year", _("per calendar year")

    class Birthday(models.TextChoices):
        ANY = "", _("Any day")
        MONTH = "month", _("In the member's birthday month")
        DAY = "day", _("On the member's birthday")

    code = models.SlugField(
        _("code"), max_length=40, unique=True, help_text=_("Stable id for reports and the API.")
    )
    name = models.CharField(pgettext_lazy("thing", "name"), max_length=60, help_text=_("Shown to members."))
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("approved by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))

    # Trigger
    trigger = models.CharField(_("trigger"), max_length=12, choices=Trigger.choices, default=Trigger.PURCHASE)
    event_type = models.ForeignKey(
        EventType,
        verbose_name=_("event type"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("For the behaviour-event trigger."),
    )
    upgrade_tier = models.ForeignKey(
        Tier,
        verbose_name=_("upgraded to"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("For the tier-upgrade trigger: reaching this tier or higher. Empty: any upgrade."),
    )

    # Conditions: an empty condition does not restrict.
    channels = models.JSONField(_("channels"), default=list, blank=True)
    stores = models.ManyToManyField(Store, verbose_name=_("stores"), blank=True, related_name="+")
    tiers = models.ManyToManyField(Tier, verbose_name=_("tiers"), blank=True, related_name="+")
    tags = models.ManyToManyField(
        Tag,
        verbose_name=_("tags"),
        blank=True,
        related_name="+",
        help_text=_("Members with any of these tags."),
    )
    new_member_days = models.PositiveSmallIntegerField(
        _("new members within days"),
        null=True,
        blank=True,
        help_text=_("Registered at most this many days before."),
    )
    segment = models.ForeignKey(
        "segments.Segment",
        verbose_name=_("segment"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Only members in this segment when the fact happens. Empty: every member."),
    )
    first_purchase = models.BooleanField(_("first purchase only"), default=False)
    referred_only = models.BooleanField(
        _("referred members only"),
        default=False,
        help_text=_("Only members a referrer brought in: with “first purchase only”, the referee's gift."),
    )
    min_paid = models.DecimalField(
        _("minimum paid (CNY)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    categories = models.JSONField(
        _("categories"), default=list, blank=True, help_text=_("The basket has a line in one of these.")
    )
    skus = models.JSONField(_("SKUs"), default=list, blank=True, help_text=_("The basket has one of these."))
    weekdays = models.JSONField(_("weekdays"), default=list, blank=True)
    hour_from = models.PositiveSmallIntegerField(_("from hour"), null=True, blank=True)
    hour_to = models.PositiveSmallIntegerField(
        _("until hour"), null=True, blank=True, help_text=_("Exclusive: 10 to 14 is 10:00 to 13:59.")
    )
    birthday = models.CharField(_("birthday"), max_length=5, choices=Birthday.choices, default="", blank=True)

    # Effects
    multiplier = models.DecimalField(
        _("multiply base points by"),
        max_digits=4,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("2 = double points: the base points once more."),
    )
    bonus_points = models.PositiveIntegerField(_("bonus points"), default=0)
    points_per_cny = models.DecimalField(
        _("extra points per CNY"), max_digits=8, decimal_places=4, null=True, blank=True
    )
    growth = models.PositiveIntegerField(_("growth value"), default=0)
    benefit = models.ForeignKey(
        Benefit,
        verbose_name=_("coupon granted"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        limit_choices_to={"kind__in": Benefit.ISSUED},
    )

    # Caps and budget (points of the campaign, not the base rule's)
    member_max_times = models.PositiveIntegerField(_("times per member"), null=True, blank=True)
    member_max_points = models.PositiveIntegerField(_("points per member"), null=True, blank=True)
    member_daily_points = models.PositiveIntegerField(_("points per member per day"), null=True, blank=True)
    member_times_period = models.CharField(
        _("times per member are counted"),
        max_length=8,
        choices=TimesPeriod.choices,
        default=TimesPeriod.CAMPAIGN,
        blank=True,
        help_text=_("In a referral campaign the member is the referrer: times = referees that reward them."),
    )
    budget_points = models.PositiveBigIntegerField(_("budget (points)"), null=True, blank=True)
    budget_cny = models.DecimalField(
        _("budget (CNY)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    spent_points = models.BigIntegerField(_("points given"), default=0, editable=False)
    spent_cny = models.DecimalField(
        _("CNY given"), max_digits=14, decimal_places=4, default=0, editable=False
    )

    # Stacking and measurement
    exclusive = models.BooleanField(
        _("exclusive"),
        default=False,
        help_text=_("Does not combine with other campaigns: the highest priority that applies wins alone."),
    )
    priority = models.SmallIntegerField(_("priority"), default=0, help_text=_("Higher goes first."))
    holdout_percent = models.PositiveSmallIntegerField(
        _("control group (%)"),
        default=0,
        help_text=_(
            "This share of targeted members gets nothing, always the same members, to measure uplift."
        ),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # What simple-history's save() reads as the history row's author and reason: services set
    # them before saving when no admin request says who (simple-history has no stubs).
    _history_user: Any
    _change_reason: str

    history = HistoricalRecords(
        verbose_name=_("historical campaign"),
        m2m_fields=[stores, tiers, tags],
        excluded_fields=["spent_points", "spent_cny"],
    )

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-starts_at", "-id"]
        permissions = [("approve_campaign", _("Can approve campaigns"))]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="campaign_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(holdout_percent__lte=50), name="campaign_holdout_at_most_half"
            ),
            models.CheckConstraint(
                condition=Q(multiplier__isnull=True) | Q(multiplier__gte=1), name="campaign_multiplier"
            ),
        ]
        indexes = [models.Index(fields=["status", "starts_at"], name="campaign_live")]

    def __str__(self) -> str:
        return self.name

    @property
    def editable(self) -> bool:
        return self.status == self.Status.DRAFT

    def clean(self) -> None:
        """Refuse settings that cannot work, all at once, naming the fields."""
        from django.core.exceptions import ValidationError

        from members.models import Channel

        errors: dict[str, StrOrPromise] = {}
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            errors["ends_at"] = _("The end must be after the start.")
        if self.trigger == self.Trigger.EVENT and not self.event_type_id:
            errors["event_type"] = _("Pick the behaviour event that triggers the campaign.")
        if self.trigger != self.Trigger.EVENT and self.event_type_id:
            errors["event_type"] = _("Only for the behaviour-event trigger.")
        if self.trigger != self.Trigger.TIER_UPGRADE and self.upgrade_tier_id:
            errors["upgrade_tier"] = _("Only for the tier-upgrade trigger.")
        if self.trigger == self.Trigger.REFERRAL:
            # the referee's purchase: its channel, store and amount count, its basket is not read
            referral_not = {
                "first_purchase": self.first_purchase,  # always the referee's first purchase
                "categories": bool(self.categories),
                "skus": bool(self.skus),
                "referred_only": self.referred_only,
            }
            for name, used in referral_not.items():
                if used:
                    errors[name] = _("Not for the referral trigger: it is the referee's first purchase.")
            if self.multiplier is not None:
                errors["multiplier"] = _("Nothing to multiply: give bonus points instead.")
        elif self.trigger != self.Trigger.PURCHASE:
            purchase_only = {
                "min_paid": self.min_paid is not None,
                "first_purchase": self.first_purchase,
                "categories": bool(self.categories),
                "skus": bool(self.skus),
                "points_per_cny": self.points_per_cny is not None,
                "referred_only": self.referred_only,
            }
            for name, used in purchase_only.items():
                if used:
                    errors[name] = _("Only purchases have this: the trigger is not a purchase.")
        if self.trigger in (self.Trigger.BIRTHDAY, self.Trigger.TIER_UPGRADE):
            if self.multiplier is not None:
                errors["multiplier"] = _("Nothing to multiply: give bonus points instead.")
            if self.channels:
                errors["channels"] = _("Birthdays and upgrades have no channel.")
        if self.segment_id and (problem := _segment_problem(self.segment_id)):
            errors["segment"] = problem
        if unknown := [c for c in self.channels if c not in Channel.values]:
            errors["channels"] = _("Unknown channel %(channel)s.") % {"channel": ", ".join(unknown)}
        if any(not str(day).isdigit() or not 1 <= int(day) <= 7 for day in self.weekdays):
            errors["weekdays"] = _("Weekdays are 1 (Monday) to 7 (Sunday).")
        for name in ("hour_from", "hour_to"):
            value = getattr(self, name)
            if value is not None and value > 24:
                errors[name] = _("An hour is 0 to 24.")
        if self.member_times_period and self.member_max_times is None:
            errors["member_times_period"] = _("Set the times per member that are counted per period.")
        if not (
            self.multiplier or self.bonus_points or self.points_per_cny or self.growth or self.benefit_id
        ):
            errors["bonus_points"] = _("The campaign gives nothing: set at least one effect.")
        if errors:
            raise ValidationError(errors)


def _segment_problem(segment_id: int) -> StrOrPromise | None:
    """Why a segment cannot be targeted: a dynamic segment without conditions has no members."""
    from campaigns.segments.models import Segment

    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is not None and segment.kind == Segment.Kind.DYNAMIC and not segment.conditions.exists():
        return _("This segment has no conditions, so no members: the campaign would give nothing.")
    return None


S = Campaign.Status


@dataclass(frozen=True)
class Step:
    """One move of a campaign's lifecycle: the statuses it starts from, where it leads (several:
    the clock picks one, see ``lifecycle_move``), its label in the history, and who takes it:
    an operator (the change permission), an approver, or the clock (``campaigns_due``)."""

    sources: tuple[str, ...]
    targets: tuple[str, ...]
    label: Any
    by: str = "operator"


#: Every move of the lifecycle, in one table; the services and the admin's buttons read it.
LIFECYCLE: dict[str, Step] = {
    "submit": Step((S.DRAFT,), (S.SUBMITTED,), _("Submitted for approval")),
    "approve": Step((S.SUBMITTED,), (S.APPROVED,), _("Approved"), by="approver"),
    "reject": Step((S.SUBMITTED,), (S.DRAFT,), _("Sent back to draft"), by="approver"),
    "withdraw": Step((S.SUBMITTED, S.APPROVED, S.SCHEDULED), (S.DRAFT,), _("Withdrawn to draft")),
    "schedule": Step((S.APPROVED,), (S.SCHEDULED, S.ACTIVE, S.ENDED), _("Scheduled")),
    "pause": Step((S.ACTIVE,), (S.PAUSED,), _("Paused")),
    "resume": Step((S.PAUSED,), (S.SCHEDULED, S.ACTIVE, S.ENDED), _("Resumed")),
    # A scheduled campaign that should not run is withdrawn, not ended: an ended campaign still
    # gives to late facts from its window, and one that never ran must give nothing.
    "end": Step((S.ACTIVE, S.PAUSED), (S.ENDED,), _("Ended")),
    "start": Step((S.SCHEDULED,), (S.ACTIVE,), _("Started at its start time"), by="clock"),
    "finish": Step((S.SCHEDULED, S.ACTIVE, S.PAUSED), (S.ENDED,), _("Ended at its end time"), by="clock"),
}


def lifecycle_move(campaign: Campaign | Journey, action: str, at: datetime.datetime) -> str:
    """Move ``campaign`` (in memory; the caller locked the row and saves it) by one step of
    ``LIFECYCLE``, and return its new status. A step with several targets goes by the clock: a
    campaign whose end has passed ends, one whose start has come is active, else scheduled."""
    step = LIFECYCLE[action]
    if campaign.status not in step.sources:
        raise TransitionRefused(
            _("“%(action)s” is not possible while the %(thing)s is %(status)s.")
            % {
                "thing": campaign._meta.verbose_name,
                "status": campaign.get_status_display(),
                "action": step.label,
            }
        )
    if len(step.targets) == 1:
        target = step.targets[0]
    elif campaign.ends_at <= at:
        target = S.ENDED
    else:
        target = S.ACTIVE if campaign.starts_at <= at else S.SCHEDULED
    assert target in step.targets, (action, target)
    campaign.status = target
    return target
