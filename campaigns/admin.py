"""Campaigns admin: earning rules, campaigns with their lifecycle, simulation and results (the
awards the pipeline made: ``campaigns.admin_awards``). An interface only: drafts are saved through
``campaign_draft_create``/``campaign_draft_update`` after the form validated, lifecycle steps go
through ``campaigns.services.lifecycle_transition``, the figures come from ``campaigns.simulation`` and
``campaigns.results`` (see ``campaigns.admin_views`` for those pages).

Operators never type JSON: channels and weekdays are ticked, categories and SKUs typed as text
(``campaigns.forms``). A campaign is edited only as a draft; afterwards its page is read-only and
shows the buttons of the steps the user may take.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import models
from django.http import HttpResponseRedirect
from django.urls import path
from django.utils.translation import gettext_lazy as _

from benefits.admin_views import plain
from campaigns import admin_views
from campaigns.forms import WEEKDAYS, CampaignForm, EarnRuleForm, choice_label, status_label
from campaigns.models import BehaviourRule, Campaign, EarnRule, ReviewLimit
from campaigns.services import CONTENT_FIELDS, campaign_draft_create, campaign_draft_update
from config.common.admin import ModelAdmin, ReadableListsMixin, ServiceAdmin
from config.common.admin_governance import GovernedAdmin
from config.common.admin_widgets import join_list
from members.admin_helpers import HistoryAdmin
from members.models import Channel


def scope_text(rule: EarnRule | ReviewLimit) -> str:
    """Where a rule or limit applies: its store, else its channel, else everywhere."""
    if rule.store_id:
        return str(rule.store)
    if rule.channel:
        return str(rule.get_channel_display())
    return str(_("default (every channel and store)"))


def words(items) -> str:
    return join_list(items) or "-"


class DraftOnlyMixin(ModelAdmin):
    """Campaigns and journeys: their content changes only while a draft (``obj.editable``); a
    page posted after it moved on is sent back with the reason."""

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and (obj is None or obj.editable)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "POST":
            obj = self.get_object(request, object_id)
            if obj is not None and not obj.editable and self.has_view_permission(request, obj):
                messages.error(
                    request,
                    _("Only a draft can be changed: withdraw the %(thing)s to draft first.")
                    % {"thing": self.model._meta.verbose_name},
                )
                return HttpResponseRedirect(request.path)
        return super().change_view(request, object_id, form_url, extra_context)


# --- standing rules ---------------------------------------------------------------------------


@admin.register(EarnRule)
class EarnRuleAdmin(GovernedAdmin, ReadableListsMixin, HistoryAdmin):
    form = EarnRuleForm
    list_display = ["point_type", "scope", "rate_display", "rounding", "exclusions", "active"]
    list_filter = ["point_type", "channel", "active"]
    list_select_related = ["point_type", "store"]
    autocomplete_fields = ["store"]
    readable = {"excluded_categories": "categories_display", "excluded_skus": "skus_display"}
    fieldsets = [
        (None, {"fields": ["point_type", "rate", "rounding", "active"]}),
        (
            _("Scope"),
            {
                "fields": ["channel", "store"],
                "description": _(
                    "The most specific rule applies: the store's, else the channel's, else the default."
                ),
            },
        ),
        (_("Exclusions"), {"fields": ["excluded_categories", "excluded_skus"]}),
    ]

    @admin.display(description=_("scope"))
    def scope(self, rule: EarnRule) -> str:
        return scope_text(rule)

    @admin.display(description=_("per CNY"), ordering="rate")
    def rate_display(self, rule: EarnRule) -> str:
        return plain(rule.rate)

    @admin.display(description=_("exclusions"))
    def exclusions(self, rule: EarnRule) -> str:
        return join_list([*rule.excluded_categories, *rule.excluded_skus]) or "-"

    @admin.display(description=_("excluded categories"))
    def categories_display(self, rule: EarnRule) -> str:
        return words(rule.excluded_categories)

    @admin.display(description=_("excluded SKUs"))
    def skus_display(self, rule: EarnRule) -> str:
        return words(rule.excluded_skus)


@admin.register(BehaviourRule)
class BehaviourRuleAdmin(GovernedAdmin, HistoryAdmin):
    list_display = ["event_type", "point_type", "amount", "cap_display", "active"]
    list_filter = ["point_type", "active"]
    list_select_related = ["event_type", "point_type"]
    fields = ["event_type", "point_type", "amount", "cap", "cap_period", "active"]

    @admin.display(description=_("at most"))
    def cap_display(self, rule: BehaviourRule) -> str:
        if rule.cap is None:
            return str(_("no limit"))
        return str(
            _("%(times)s times %(period)s") % {"times": rule.cap, "period": rule.get_cap_period_display()}
        )


# --- campaigns --------------------------------------------------------------------------------


class ChoiceFilter(admin.SimpleListFilter):
    """A filter on one of the campaign's choice fields, with the labels the admin shows."""

    field = ""

    def lookups(self, request, model_admin):
        return [(value, choice_label(self.field, value)) for value, _label in self.choices_of()]

    def choices_of(self):
        field = Campaign._meta.get_field(self.field)
        assert isinstance(field, models.Field)  # status, trigger: columns
        return field.choices

    def queryset(self, request, queryset):
        return queryset.filter(**{self.field: self.value()}) if self.value() else queryset


class StatusFilter(ChoiceFilter):
    title = _("status")
    parameter_name = field = "status"


class TriggerFilter(ChoiceFilter):
    title = _("trigger")
    parameter_name = field = "trigger"


TRIGGER_HELP = _(
    "What the campaign looks at: a purchase, an event, a registration, a birthday, an upgrade, or a referral."
)
BASICS = ["code", "name", "description", "starts_at", "ends_at"]
RECORD = ["status_display", "created_by", "approved_by", "approved_at", "created_at"]
SPENT = ["spent_points_display", "spent_cny_display"]


@admin.register(Campaign)
class CampaignAdmin(DraftOnlyMixin, ReadableListsMixin, ServiceAdmin, HistoryAdmin):
    """Drafts are written here through ``campaign_draft_create``/``campaign_draft_update``; every
    later step is a button calling ``lifecycle_transition``."""

    form = CampaignForm
    list_display = [
        "name",
        "code",
        "status_display",
        "trigger_display",
        "window_display",
        "priority_display",
        "budget_display",
        "created_by",
    ]
    list_filter = [StatusFilter, TriggerFilter]
    search_fields = ["name", "code"]
    search_help_text = _("Part of the name or code.")
    show_full_result_count = False
    ordering = ["-starts_at", "-id"]
    autocomplete_fields = ["stores", "tags", "segment", "benefit"]
    filter_horizontal = ["tiers"]
    readable = {
        "channels": "channels_display",
        "weekdays": "weekdays_display",
        "categories": "categories_display",
        "skus": "skus_display",
    }
    change_form_template = "admin/campaigns/campaign/change_form.html"

    def get_fieldsets(self, request, obj=None):
        added = obj is not None  # what the admin and the services record, shown once it exists
        sections = [
            (None, {"fields": [*BASICS, *(RECORD if added else [])]}),
            (
                _("Trigger"),
                {
                    "fields": ["trigger", "event_type", "upgrade_tier"],
                    "description": TRIGGER_HELP,
                },
            ),
            (
                _("Conditions"),
                {
                    "fields": [
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
                    ],
                    "description": _(
                        "Every condition that is set must hold; an empty one does not restrict."
                    ),
                },
            ),
            (
                _("Effects"),
                {
                    "fields": ["multiplier", "bonus_points", "points_per_cny", "growth", "benefit"],
                    "description": _("What a member who qualifies gets: at least one of these."),
                },
            ),
            (
                _("Caps and budget"),
                {
                    "fields": [
                        "member_max_times",
                        "member_times_period",
                        "member_max_points",
                        "member_daily_points",
                        "budget_points",
                        "budget_cny",
                        *(SPENT if added else []),
                    ],
                    "description": _("Limits on the campaign's own points, not the base rule's."),
                },
            ),
            (_("Stacking and control group"), {"fields": ["exclusive", "priority", "holdout_percent"]}),
        ]
        return self.readable_fieldsets(request, obj, sections)

    def get_readonly_fields(self, request, obj=None):
        recorded = [*RECORD, *SPENT] if obj is not None else []
        return [*recorded, *super().get_readonly_fields(request, obj)]

    def get_queryset(self, request):
        # the list's author column and the change page's author and approver, in the row's query
        return super().get_queryset(request).select_related("created_by", "approved_by")

    # --- who may do what: content only as a draft (DraftOnlyMixin), lifecycle through the services

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and obj is not None and obj.editable

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # drafts only, one at a time
        return actions

    def save_by_service(self, request, form, obj: Campaign, change: bool) -> Campaign:
        values = {name: value for name, value in form.cleaned_data.items() if name in CONTENT_FIELDS}
        if change:
            return campaign_draft_update(obj, values=values, actor=request.user)
        return campaign_draft_create(values=values, actor=request.user)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(
                admin_views.lifecycle_context(request, obj, self.has_change_permission(request, obj))
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- the campaign's own pages ---------------------------------------------------------------
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/transition/",
                view(self.transition_view),
                name="campaigns_lifecycle_transition",
            ),
            path("<path:object_id>/simulate/", view(self.simulate_view), name="campaigns_campaign_simulate"),
            path("<path:object_id>/results/", view(self.results_view), name="campaigns_campaign_results"),
            *super().get_urls(),
        ]

    def transition_view(self, request, object_id):
        return admin_views.transition_view(request, self, object_id)

    def simulate_view(self, request, object_id):
        return admin_views.simulate_view(request, self, object_id)

    def results_view(self, request, object_id):
        return admin_views.results_view(request, self, object_id)

    # --- columns and read-only displays ---------------------------------------------------------
    @admin.display(description=_("status"), ordering="status")
    def status_display(self, campaign: Campaign) -> str:
        return status_label(campaign)

    @admin.display(description=_("trigger"), ordering="trigger")
    def trigger_display(self, campaign: Campaign) -> str:
        return choice_label("trigger", campaign.trigger)

    @admin.display(description=_("campaign dates"), ordering="starts_at")
    def window_display(self, campaign: Campaign) -> str:
        return admin_views.window(campaign)

    @admin.display(description=_("priority"), ordering="priority")
    def priority_display(self, campaign: Campaign) -> str:
        if campaign.exclusive:
            return f"{campaign.priority} · {_('exclusive')}"
        return str(campaign.priority)

    @admin.display(description=_("budget used"))
    def budget_display(self, campaign: Campaign) -> str:
        return admin_views.budget_used(campaign)

    @admin.display(description=_("points given"))
    def spent_points_display(self, campaign: Campaign) -> str:
        return f"{campaign.spent_points:,}"

    @admin.display(description=_("CNY given"))
    def spent_cny_display(self, campaign: Campaign) -> str:
        return admin_views.cny(campaign.spent_cny)

    @admin.display(description=_("channels"))
    def channels_display(self, campaign: Campaign) -> str:
        labels = dict(Channel.choices)
        return ", ".join(str(labels.get(c, c)) for c in campaign.channels) or str(_("every channel"))

    @admin.display(description=_("weekdays"))
    def weekdays_display(self, campaign: Campaign) -> str:
        labels = dict(WEEKDAYS)
        days = sorted(int(day) for day in campaign.weekdays)
        return ", ".join(str(labels.get(day, day)) for day in days) or str(_("every day"))

    @admin.display(description=_("categories"))
    def categories_display(self, campaign: Campaign) -> str:
        return words(campaign.categories)

    @admin.display(description=_("SKUs"))
    def skus_display(self, campaign: Campaign) -> str:
        return words(campaign.skus)


# registers the awards', the review holds' and the scheduled jobs' pages
from campaigns import admin_awards, admin_jobs, admin_review, admin_risk  # noqa: E402, F401
