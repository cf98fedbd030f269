"""Risk controls against bonus hunting (薅羊毛): the rules an operator sets, and the cases they open.

A rule watches one thing: a velocity (so many earned points, purchases, refunds, redemptions or
enrolments per member, device, IP address, store, partner or phone prefix in an hour or a day) or a pattern
(virtual-operator phones collecting welcome bonuses, refunds after the points were spent,
transfers in rings or fans, staff earning at their own store, bursts on a scarce reward, coupon
codes guessed). Rules are programme settings under maker-checker. A rule that fires opens a case
per member, with its evidence, and takes the rule's action; an approver decides the case
(``campaigns.risk.cases``). Guessing has no member: its case names who tried (a partner, a store,
a staff account) and only records or alerts.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from members.models import Member

#: The number ranges (号段) of China's virtual operators, the default of a virtual-phone rule.
VIRTUAL_PREFIXES = "170,171,162,165,167"


class RiskRule(models.Model):
    class Kind(models.TextChoices):
        VELOCITY = "velocity", _("Velocity: too much in an hour or a day")
        VIRTUAL_PHONE = "virtual_phone", _("Virtual-operator phones collecting welcome bonuses")
        REFUND_AFTER_REDEEM = "refund_after_redeem", _("Refunds after the points were spent")
        TRANSFER_RING = "transfer_ring", _("Points transfers in rings or fans toward one account")
        STAFF_SELF_DEALING = "staff_self_dealing", _("Store staff earning at their own store")
        SCARCE_REWARD_BURST = "scarce_reward_burst", _("New members redeeming a scarce reward in a burst")
        COUPON_GUESSING = "coupon_guessing", _("Coupon codes tried many times (guessing)")

    class Measure(models.TextChoices):
        EARNED_POINTS = "earned_points", _("Points earned")
        PURCHASES = "purchases", _("Purchases")
        REFUNDS = "refunds", _("Refunds")
        REDEMPTIONS = "redemptions", _("Reward redemptions")
        ENROLMENTS = "enrolments", _("Enrolments")

    class Scope(models.TextChoices):
        MEMBER = "member", _("Per member")
        DEVICE = "device", _("Per device")
        IP = "ip", _("Per IP address")
        STORE = "store", _("Per store")
        PARTNER = "partner", _("Per partner")
        PHONE_PREFIX = "phone_prefix", _("Per phone number range (first 7 digits)")
        STAFF = "staff", _("Per staff account")

    class Window(models.TextChoices):
        HOUR = "hour", _("Per hour")
        DAY = "day", _("Per day")

    class Action(models.TextChoices):
        RECORD = "record", _("Record only")
        HOLD = "hold", _("Hold the member's awards for review")
        BLOCK_REDEMPTIONS = "block_redemptions", _("Block redemptions and spending")
        REQUIRE_CODE = "require_code", _("Require the member's code to spend")
        ALERT = "alert", _("Alert the risk desk")
        FREEZE = "freeze", _("Freeze the member")

    name = models.CharField(pgettext_lazy("thing", "name"), max_length=100)
    kind = models.CharField(_("what it watches"), max_length=24, choices=Kind.choices)
    measure = models.CharField(
        _("measure"),
        max_length=16,
        choices=Measure.choices,
        blank=True,
        help_text=_("Velocity rules: what is counted."),
    )
    scope = models.CharField(
        _("counted"),
        max_length=16,
        choices=Scope.choices,
        blank=True,
        help_text=_(
            "Whose count. Per member, points and purchases are checked as they arrive; the rest nightly."
        ),
    )
    window = models.CharField(_("window"), max_length=8, choices=Window.choices, default=Window.DAY)
    threshold = models.PositiveIntegerField(
        _("fires above"),
        help_text=_("Velocity: above this in the window. Patterns: at this many or more."),
    )
    prefixes = models.CharField(
        _("virtual-operator number ranges"),
        max_length=200,
        blank=True,
        default=VIRTUAL_PREFIXES,
        help_text=_("Virtual-phone rules: the leading digits, separated by commas."),
    )
    new_member_days = models.PositiveSmallIntegerField(
        _("new member: enrolled within days"),
        default=30,
        help_text=_("Virtual-phone and scarce-reward rules: members enrolled this recently."),
    )
    scarce_stock = models.PositiveIntegerField(
        _("scarce: stock at most"),
        default=100,
        help_text=_("Scarce-reward rules: rewards with no more than this stock left."),
    )
    lookback_days = models.PositiveSmallIntegerField(
        _("looks back days"),
        default=1,
        help_text=_("Patterns: days read up to the scanned day; a member is caught once in that many days."),
    )
    action = models.CharField(_("action"), max_length=20, choices=Action.choices, default=Action.RECORD)
    score = models.PositiveSmallIntegerField(
        _("risk score"), default=20, help_text=_("Added to the member's risk score when it fires (0–100).")
    )
    active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords(verbose_name=_("historical risk rule"))

    class Meta:
        verbose_name = _("risk rule")
        verbose_name_plural = _("risk rules")
        ordering = ["kind", "pk"]

    def __str__(self) -> str:
        return self.name

    @property
    def inline(self) -> bool:
        """Checked as each purchase arrives (the others run in the nightly scan)."""
        return (
            self.kind == self.Kind.VELOCITY
            and self.scope == self.Scope.MEMBER
            and self.measure in (self.Measure.EARNED_POINTS, self.Measure.PURCHASES)
        )

    @property
    def on_members(self) -> bool:
        """Whether its cases are members' (a guessing rule's are a partner's, store's or account's)."""
        return self.kind != self.Kind.COUPON_GUESSING

    @property
    def holds(self) -> bool:
        """Whether the rule holds what the member earns (the purchase that fired an inline rule,
        and the member's awards while the case is open)."""
        return self.action in (self.Action.HOLD, self.Action.FREEZE)

    def prefix_list(self) -> list[str]:
        return [p.strip() for p in self.prefixes.split(",") if p.strip()]


class RiskCase(models.Model):
    """One member caught by one rule in one window, with the evidence. ``key`` makes a second scan
    of the same window find the same case. A guessing case has no member: ``subject`` names the
    partner, store or staff account that tried the codes."""

    class Status(models.TextChoices):
        OPEN = "open", _("Waiting for review")
        RELEASED = "released", _("Released: proved fine")
        REJECTED = "rejected", _("Confirmed: awards rejected")
        FROZEN = "frozen", _("Confirmed: member frozen")

    rule = models.ForeignKey(RiskRule, verbose_name=_("rule"), on_delete=models.PROTECT, related_name="cases")
    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    subject = models.CharField(_("who"), max_length=120, blank=True, editable=False)
    key = models.CharField(max_length=120, unique=True, editable=False)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    action = models.CharField(_("action taken"), max_length=20, choices=RiskRule.Action.choices)
    score = models.PositiveSmallIntegerField(_("risk score"))
    #: What the rule saw, for the reviewer: {"summary": {...}, "facts": [{"what", "ref", "at", "amount"}]}
    evidence = models.JSONField(_("evidence"), default=dict, editable=False)
    #: the local day of the data the case was found in (a scan's day, an inline fact's day)
    day = models.DateField(_("day of the facts"))
    found_at = models.DateTimeField(_("found at"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    note = models.TextField(_("notes"), blank=True)
    history = HistoricalRecords(verbose_name=_("historical risk case"), excluded_fields=["evidence"])

    class Meta:
        verbose_name = _("risk case")
        verbose_name_plural = _("risk cases")
        ordering = ["-found_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-found_at"], name="riskcase_queue"),
            models.Index(fields=["member", "status"], name="riskcase_member"),
            models.Index(fields=["rule", "member", "-day"], name="riskcase_rule_member_day"),
        ]
        permissions = [("decide_riskcase", _("Can release, reject or freeze risk cases"))]

    def __str__(self) -> str:
        return f"{self.rule} · {self.member.member_number if self.member else self.subject}"
