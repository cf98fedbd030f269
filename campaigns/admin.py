"""Campaigns admin: earning rules, campaigns with their lifecycle, simulation and results, and the
awards the pipeline made. An interface only: drafts are saved through
``campaign_draft_create``/``campaign_draft_update`` after the form validated, lifecycle steps go
through ``campaigns.services.campaign_transition``, the figures come from ``campaigns.simulation`` and
``campaigns.results`` (see ``campaigns.admin_views`` for those pages).

Operators never type JSON: channels and weekdays are ticked, categories and SKUs typed as text
(``campaigns.forms``). A campaign is edited only as a draft; afterwards its page is read-only and
shows the buttons of the steps the user may take. Adds the member's latest earnings, each
line explained, to the member page.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import models
from django.db.models import Prefetch, Q
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from benefits.admin_views import plain
from campaigns import admin_views
from campaigns.earning.explain import award_text, line_text
from campaigns.forms import WEEKDAYS, CampaignForm, EarnRuleForm, choice_label, join_list, status_label
from campaigns.models import Award, AwardLine, BehaviourRule, Campaign, EarnRule, ReviewLimit
from campaigns.services import CONTENT_FIELDS, campaign_draft_create, campaign_draft_update
from config.common.admin import LargeTablePaginator, ModelAdmin, ReadOnlyInline, ServiceAdmin, newest_rows
from members.admin import MEMBER_PAGE_INLINES
from members.admin_helpers import HistoryAdmin, MemberColumnMixin, member_ids
from members.models import Channel


class ReadableListsMixin(ModelAdmin):
    """On read-only pages (roles without the change permission, campaigns past draft) the JSON
    lists show as words: ``readable`` maps each list field to its display method."""

    readable: dict[str, str] = {}

    def get_fieldsets(self, request, obj=None):
        return self.readable_fieldsets(request, obj, super().get_fieldsets(request, obj))

    def get_readonly_fields(self, request, obj=None):
        # named here too, so a form built without ``change`` (a past version's page) leaves them out
        return [*super().get_readonly_fields(request, obj), *self.readable.values()]

    def readable_fieldsets(self, request, obj, fieldsets):
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        return [
            (name, {**opts, "fields": [self.readable.get(f, f) for f in opts["fields"]]})
            for name, opts in fieldsets
        ]


def scope_text(rule: EarnRule | ReviewLimit) -> str:
    """Where a rule or limit applies: its store, else its channel, else everywhere."""
    if rule.store_id:
        return str(rule.store)
    if rule.channel:
        return str(rule.get_channel_display())
    return str(_("default (every channel and store)"))


def words(items) -> str:
    return join_list(items) or "-"


# --- standing rules ---------------------------------------------------------------------------


@admin.register(EarnRule)
class EarnRuleAdmin(ReadableListsMixin, HistoryAdmin):
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
class BehaviourRuleAdmin(HistoryAdmin):
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
    "What the campaign looks at: a purchase, a behaviour event, a registration, a birthday or a tier upgrade."
)
BASICS = ["code", "name", "description", "starts_at", "ends_at"]
RECORD = ["status_display", "created_by", "approved_by", "approved_at", "created_at"]
SPENT = ["spent_points_display", "spent_cny_display"]


@admin.register(Campaign)
class CampaignAdmin(ReadableListsMixin, ServiceAdmin, HistoryAdmin):
    """Drafts are written here through ``campaign_draft_create``/``campaign_draft_update``; every
    later step is a button calling ``campaign_transition``."""

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
    autocomplete_fields = ["stores", "tags", "benefit"]
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
                        "new_member_days",
                        "first_purchase",
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

    # --- who may do what: content only as a draft, lifecycle through the services -------------
    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and (obj is None or obj.editable)

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

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "POST":
            campaign = self.get_object(request, object_id)
            if campaign is not None and not campaign.editable and self.has_view_permission(request, campaign):
                messages.error(
                    request, _("Only a draft can be changed: withdraw the campaign to draft first.")
                )
                return HttpResponseRedirect(request.path)
        return super().change_view(request, object_id, form_url, extra_context)

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
                name="campaigns_campaign_transition",
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


# --- awards: what the pipeline gave, explained ----------------------------------------------


def award_fact(award: Award) -> str:
    """The fact the award answers, in the reader's words (``campaigns.earning.explain.award_text``)."""
    return award_text(award)


def award_lines(award: Award) -> list[AwardLine]:
    """The lines, prefetched by the list that shows the award, else read here in one query."""
    if "lines" in getattr(award, "_prefetched_objects_cache", {}):
        return list(award.lines.all())
    return list(AwardLine.objects.filter(award=award).select_related("point_type", "coupon__benefit"))


def lines_prefetch(lookup: str = "lines") -> Prefetch:
    return Prefetch(
        lookup, queryset=AwardLine.objects.select_related("point_type", "coupon__benefit").order_by("id")
    )


def explanation(award: Award) -> str:
    lines = award_lines(award)
    if not lines:
        return "-"
    return format_html_join(mark_safe("<br>"), "{}", ((line_text(line),) for line in lines))


def signed_total(award: Award, code: str) -> str:
    """The award's lines of one point type (``points``, ``growth``) summed: ``+1,851``."""
    lines = award_lines(award)
    total = sum(line.amount for line in lines if line.point_type is not None and line.point_type.code == code)
    return f"{total:+,}" if total else "0"


@admin.register(Award)
class AwardAdmin(MemberColumnMixin, ModelAdmin):
    """Read-only, for finance and support: why a member got what they got."""

    list_display = ["key", "member", "kind", "occurred_at", "points_display", "growth_display"]
    list_filter = ["kind"]
    list_select_related = ["member"]
    search_fields = ["key"]  # shows the search box; the search itself is get_search_results
    search_help_text = _("Exact key or member number.")
    show_full_result_count = False
    paginator = LargeTablePaginator
    list_per_page = 100
    ordering = ["-id"]
    sortable_by = ()
    fields = readonly_fields = (
        "key",
        "kind",
        "member_link",
        "fact",
        "occurred_at",
        "created_at",
        "explanation_display",
    )

    def get_queryset(self, request):
        # the page's lines in one more query (not in the capped count, which stays on awards alone)
        return (
            super()
            .get_queryset(request)
            .select_related("member", "purchase", "refund", "event__event_type")
            .prefetch_related(lines_prefetch())
        )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(key=term) | Q(member_id__in=member_ids(term))), False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("points"))
    def points_display(self, award: Award) -> str:
        return signed_total(award, "points")

    @admin.display(description=_("growth value"))
    def growth_display(self, award: Award) -> str:
        return signed_total(award, "growth")

    @admin.display(description=_("member"))
    def member_link(self, award: Award) -> str:
        url = reverse("admin:members_member_change", args=[award.member_id])
        return format_html('<a href="{}">{}</a>', url, award.member)

    @admin.display(description=_("fact"))
    def fact(self, award: Award) -> str:
        return award_fact(award)

    @admin.display(description=_("explanation"))
    def explanation_display(self, award: Award) -> str:
        return explanation(award)


class AwardInline(ReadOnlyInline):
    """The member page's latest earnings, each line in words ("金卡 ×1.5 +617 积分")."""

    model = Award
    fk_name = "member"
    formset = newest_rows("-id")
    fields = ["occurred_at", "fact", "points", "explanation"]
    verbose_name_plural = _("earnings (latest 20)")
    show_change_link = True

    def get_queryset(self, request):
        # two queries whatever the number of awards and lines: awards with their facts, then lines
        return (
            super()
            .get_queryset(request)
            .select_related("purchase", "refund", "event__event_type")
            .prefetch_related(lines_prefetch())
        )

    @admin.display(description=_("fact"))
    def fact(self, award: Award) -> str:
        return award_fact(award)

    @admin.display(description=_("points"))
    def points(self, award: Award) -> str:
        return signed_total(award, "points")

    @admin.display(description=_("explanation"))
    def explanation(self, award: Award) -> str:
        return explanation(award)


MEMBER_PAGE_INLINES.append(AwardInline)

# registers the review holds' admin and the scheduled jobs' pages
from campaigns import admin_jobs, admin_review  # noqa: E402, F401
