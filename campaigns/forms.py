"""Forms of the campaigns admin: what operators tick and type instead of JSON.

Lists of categories and SKUs are typed as text (commas, Chinese commas or new lines between
them); channels and weekdays are ticked. The model stores them as JSON lists.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib.admin.widgets import AdminDateWidget
from django.db import models
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from campaigns.models import Campaign, EarnRule
from campaigns.services import ACTIONS
from config.common.admin_widgets import ListField, ThemedForm
from members.admin_helpers import WhereAndWhenForm

if TYPE_CHECKING:
    from campaigns.journeys.models import Journey

WEEKDAYS = [
    (1, pgettext_lazy("weekday", "Mon")),
    (2, pgettext_lazy("weekday", "Tue")),
    (3, pgettext_lazy("weekday", "Wed")),
    (4, pgettext_lazy("weekday", "Thu")),
    (5, pgettext_lazy("weekday", "Fri")),
    (6, pgettext_lazy("weekday", "Sat")),
    (7, pgettext_lazy("weekday", "Sun")),
]


def choice_label(field: str, value: str) -> str:
    """The label of a campaign's ``status`` or ``trigger`` value, in the reader's language.

    "Active" and "Registration" carry a context in the model (a member's "Active" is 正常, the
    member page's "Registration" is 注册信息), so the plain choices read right.
    """
    model_field = Campaign._meta.get_field(field)
    assert isinstance(model_field, models.Field)  # a column, not a relation's reverse side
    return str(dict(model_field.flatchoices).get(value, value))


def status_label(campaign: Campaign | Journey) -> str:
    return choice_label("status", campaign.status)


class EarnRuleForm(forms.ModelForm):
    excluded_categories = ListField(
        label=capfirst(_("excluded categories")),
        help_text=_("Lines in these categories earn nothing. Separate them with commas or put one per line."),
    )
    excluded_skus = ListField(
        label=capfirst(_("excluded SKUs")),
        help_text=_("Lines of these SKUs earn nothing. Separate them with commas or put one per line."),
    )

    class Meta:
        model = EarnRule
        fields = [
            "point_type",
            "channel",
            "store",
            "rate",
            "rounding",
            "excluded_categories",
            "excluded_skus",
            "active",
        ]


class CampaignForm(WhereAndWhenForm):
    categories = ListField(
        label=capfirst(_("categories")),
        help_text=_(
            "Baskets with a line in one of these categories. Commas or one per line; empty: any basket."
        ),
    )
    skus = ListField(
        label=capfirst(_("SKUs")),
        help_text=_("Baskets with one of these SKUs. Commas or one per line; empty: any basket."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "trigger" in self.fields:
            trigger = self.fields["trigger"]
            assert isinstance(trigger, forms.ChoiceField)
            trigger.choices = [(value, choice_label("trigger", value)) for value in Campaign.Trigger.values]

    class Meta:
        model = Campaign
        fields = [
            "code",
            "name",
            "description",
            "starts_at",
            "ends_at",
            "trigger",
            "event_type",
            "upgrade_tier",
            "channels",
            "stores",
            "tiers",
            "tags",
            "segment",
            "new_member_days",
            "first_purchase",
            "referred_only",
            "min_paid",
            "categories",
            "skus",
            "weekdays",
            "hour_from",
            "hour_to",
            "birthday",
            "multiplier",
            "bonus_points",
            "points_per_cny",
            "growth",
            "benefit",
            "member_max_times",
            "member_times_period",
            "member_max_points",
            "member_daily_points",
            "budget_points",
            "budget_cny",
            "exclusive",
            "priority",
            "holdout_percent",
        ]
        help_texts = {
            "stores": _("Empty: every store."),
            "tiers": _("Empty: every tier."),
            "tags": _("Members with any of these tags. Empty: every member."),
            "segment": _(
                "Only members in this segment when the purchase or event happens. Empty: every member."
            ),
            "min_paid": _("Empty: any amount."),
            "hour_from": _("0 to 23, the shop's local time. Empty: from midnight."),
            "bonus_points": _("Points given once per qualifying purchase or event."),
            "points_per_cny": _("On top of the base rule, for each CNY of the eligible amount."),
            "growth": _("Growth value given once per qualifying purchase or event."),
            "benefit": _("A coupon issued to each member the campaign gives to."),
            "member_max_times": _("Empty: no limit."),
            "member_max_points": _("Campaign points over the whole campaign. Empty: no limit."),
            "member_daily_points": _("Empty: no limit."),
            "budget_points": _("The campaign stops giving points once they are given out. Empty: no budget."),
            "budget_cny": _("At each point type's value in CNY. Empty: no budget."),
            "birthday": _("For birthday campaigns and purchases: when in the year it applies."),
        }


class SimulationForm(ThemedForm, forms.Form):
    start = forms.DateField(label=capfirst(_("first day")), widget=AdminDateWidget)
    end = forms.DateField(label=capfirst(_("last day")), widget=AdminDateWidget)

    DEFAULT_DAYS = 30
    MAX_DAYS = 366

    @classmethod
    def defaults(cls) -> dict[str, datetime.date]:
        today = timezone.localdate()
        return {"start": today - datetime.timedelta(days=cls.DEFAULT_DAYS), "end": today}

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # what Form.clean returns
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                self.add_error("end", _("The end must be on or after the start."))
            elif (end - start).days >= self.MAX_DAYS:
                self.add_error("end", _("At most a year at a time."))
            elif end > timezone.localdate():
                self.add_error("end", _("Simulate over the past: real purchases only."))
        return data

    def moments(self) -> tuple[datetime.datetime, datetime.datetime]:
        """From the start date's midnight to the midnight after the end date, local time."""
        start = self.cleaned_data["start"]
        end = self.cleaned_data["end"] + datetime.timedelta(days=1)
        midnight = datetime.time()
        return (
            timezone.make_aware(datetime.datetime.combine(start, midnight)),
            timezone.make_aware(datetime.datetime.combine(end, midnight)),
        )


class TransitionForm(forms.Form):
    action = forms.ChoiceField(choices=[])
    note = forms.CharField(label=capfirst(_("note")), max_length=200, required=False, strip=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # every action, not only the ones shown: a stale page's button gets the service's reason
        action_field = self.fields["action"]
        assert isinstance(action_field, forms.ChoiceField)
        action_field.choices = [(action, action) for action in ACTIONS]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # what Form.clean returns
        if data.get("action") == "reject" and not data.get("note"):
            self.add_error("note", _("Say why it is sent back, so the author knows what to change."))
        return data
