"""Tiers admin: the ladder with its policy, the member page's tier status and manual overrides
(paid membership: ``tiers.admin_plans``). An interface only: overrides go through
``tiers.services``.

Apps above tiers (benefits) add to the tier and plan pages through ``TIER_PAGE_INLINES``,
``PLAN_PAGE_INLINES`` and ``TIER_LADDER_COLUMNS``, so this module never imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Prefetch
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from config.common.admin import (
    LargeTablePaginator,
    ReadOnlyFormSet,
    ReadOnlyInline,
    ServiceAdmin,
    ServiceForm,
    StackedInline,
    local_date,
    newest_rows,
    run_each,
)
from config.common.admin_governance import GovernedAdmin
from members.admin import MEMBER_PAGE_INLINES
from members.admin_helpers import HistoryAdmin, MemberColumnMixin, SettingsAdmin
from tiers.admin_plans import PLAN_PAGE_INLINES  # noqa: F401  (registers the paid membership pages)
from tiers.models import MemberTier, Source, Tier, TierChange, TierPolicy
from tiers.selectors import tier_progress
from tiers.services import tier_check, tier_override, tier_override_end, tier_save

#: Inlines apps above tiers add to the tier page and the paid plan page (entitlements).
TIER_PAGE_INLINES: list[type[admin.options.InlineModelAdmin]] = []


@dataclass(frozen=True)
class LadderColumn:
    """A column another app adds to the tier ladder: ``display(tier)`` (an ``admin.display``
    function, its description is the header) and what to prefetch so the ladder stays one query
    per relation."""

    display: Callable[[Any], str]  # takes a Tier with what ``prefetch`` attaches (WithAnnotations)
    prefetch: tuple[str | Prefetch, ...] = ()


TIER_LADDER_COLUMNS: list[LadderColumn] = []


# --- the ladder and its policy --------------------------------------------------------------


class TierForm(forms.ModelForm):
    """Refuses a tier out of ladder order (on the threshold field, naming both tiers). The check
    only reads, under the ladder lock that the admin's transaction holds until ``save_model``."""

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # BaseForm._post_clean: missing from django-stubs
        if not self.has_error("rank") and not self.has_error("threshold"):
            for field, message in tier_check(self.instance).items():
                self.add_error(field if field in self.fields else None, message)


@admin.register(Tier)
class TierAdmin(GovernedAdmin, HistoryAdmin):
    """The ladder: every tier on one page, in rank order, with the policy above it."""

    form = TierForm
    list_display = ["rank", "name", "code", "threshold_display", "multiplier_display"]
    list_display_links = ["rank", "name"]
    ordering = ["rank"]
    list_per_page = 1000  # a handful of tiers: one page
    show_full_result_count = False
    fields = ["rank", "code", "name", "threshold", "earn_multiplier", "description"]

    def get_list_display(self, request):
        return [*self.list_display, *(column.display for column in TIER_LADDER_COLUMNS)]

    def get_queryset(self, request):
        lookups = [lookup for column in TIER_LADDER_COLUMNS for lookup in column.prefetch]
        return super().get_queryset(request).prefetch_related(*lookups)

    def get_inlines(self, request, obj):
        return [*self.inlines, *TIER_PAGE_INLINES]

    def get_readonly_fields(self, request, obj=None):
        # the entry tier stays rank 0 with no threshold: every member without a status is in it
        return ["rank", "threshold"] if obj is not None and obj.rank == 0 else []

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.rank == 0:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # one at a time, where the entry tier is refused
        return actions

    def changelist_view(self, request, extra_context=None):
        policy = TierPolicy.current()
        policy_url = None
        if request.user.has_perm("tiers.change_tierpolicy") or request.user.has_perm("tiers.view_tierpolicy"):
            policy_url = reverse("admin:tiers_tierpolicy_change", args=[policy.pk])
        context = {
            "policy": policy,
            "policy_url": policy_url,
            "can_change_policy": request.user.has_perm("tiers.change_tierpolicy"),
            **(extra_context or {}),
        }
        return super().changelist_view(request, context)

    def save_model(self, request, obj: Tier, form, change: bool) -> None:
        obj._history_user = request.user  # what simple-history's save_model sets
        tier_save(tier=obj)

    @admin.display(description=_("qualifying threshold"), ordering="threshold")
    def threshold_display(self, tier: Tier) -> str:
        return f"{tier.threshold:,}"

    @admin.display(description=_("earn multiplier"), ordering="earn_multiplier")
    def multiplier_display(self, tier: Tier) -> str:
        return f"×{tier.earn_multiplier.normalize():f}"


@admin.register(TierPolicy)
class TierPolicyAdmin(GovernedAdmin, SettingsAdmin):
    """One row; saving returns to the ladder."""

    fields = ["metric", "window", "downgrade", "grace_days", "updated_at"]
    readonly_fields = ["updated_at"]

    def response_post_save_change(self, request, obj):
        if request.user.has_perm("tiers.view_tier"):
            return HttpResponseRedirect(reverse("admin:tiers_tier_changelist"))
        return super().response_post_save_change(request, obj)


# --- the member page ------------------------------------------------------------------------


class TierStatusFormSet(ReadOnlyFormSet):
    """Renders from ``tier_progress`` rather than from rows: a member who never left the entry
    tier has no ``MemberTier`` row, and their progress matters just as much."""

    @cached_property
    def progress(self):
        try:
            return tier_progress(self.instance)
        except Tier.DoesNotExist:  # no entry tier configured
            return None

    @cached_property
    def rows(self) -> list[tuple[str, str]]:
        progress = self.progress
        if progress is None:
            return [(str(_("tier")), str(_("No entry tier (rank 0) is configured.")))]
        review = str(progress.deadline)
        if progress.in_grace:
            in_grace = _("in the grace period")
            review = f"{review} ({in_grace})"
        lines = [progress.held_by(), progress.next_step()]
        if progress.earned_tier.rank > 0:  # the entry tier is never lost: no outlook to give
            lines.append(progress.outlook())
        return [
            (str(MemberTier._meta.get_field("tier").verbose_name), progress.tier.name),
            (str(MemberTier._meta.get_field("source").verbose_name), str(Source(progress.source).label)),
            (str(MemberTier._meta.get_field("since").verbose_name), local_date(progress.since)),
            (str(MemberTier._meta.get_field("earned_tier").verbose_name), progress.earned_tier.name),
            (str(_("next review")), review),
            (str(_("growth this period")), f"{progress.growth_in_period:,}"),
            (
                str(_("progress")),
                format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines if line)),
            ),
        ]


class TierStatusInline(StackedInline):
    """The member's tier and the path from here, read-only (overrides: the member tier page)."""

    model = MemberTier
    formset = TierStatusFormSet
    template = "admin/tiers/membertier/tier_status_inline.html"
    extra = 0
    max_num = 0
    can_delete = False
    fields = readonly_fields = ("tier",)  # unused: the template renders the formset's rows
    verbose_name_plural = _("tier status")

    def get_queryset(self, request):
        return super().get_queryset(request).none()  # shown from tier_progress, see the formset

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class TierChangeInline(ReadOnlyInline):
    model = TierChange
    formset = newest_rows("-at", "-id")
    fields = ["at", "from_tier", "to_tier", "earned_tier", "reason", "metric", "note", "actor"]
    verbose_name_plural = _("tier changes (latest 20)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("from_tier", "to_tier", "earned_tier", "actor")


MEMBER_PAGE_INLINES.extend([TierStatusInline, TierChangeInline])


# --- manual overrides -----------------------------------------------------------------------


class OverrideForm(ServiceForm):
    """What an override needs; ``MemberTierAdmin.save_by_service`` hands it to ``tier_override``."""

    class Meta:
        model = MemberTier
        fields = ["member", "override_tier", "override_until", "override_reason"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("override_tier", "override_until"):
            if name in self.fields:
                self.fields[name].required = True


@admin.register(MemberTier)
class MemberTierAdmin(MemberColumnMixin, ServiceAdmin):
    """Members' tier status; the form sets a manual override through ``tier_override``."""

    form = OverrideForm
    list_display = [
        "member",
        "tier",
        "source",
        "earned_tier",
        "valid_until",
        "override_tier",
        "override_until",
    ]
    list_filter = ["tier", "source", ("override_until", admin.EmptyFieldListFilter)]
    list_select_related = ["member", "tier", "earned_tier", "override_tier"]
    search_fields = ["member__member_number"]
    search_help_text = _("Exact member number.")
    show_full_result_count = False
    paginator = LargeTablePaginator
    list_per_page = 50
    ordering = ["-pk"]
    autocomplete_fields = ["member"]
    actions = ["end_override"]
    status_fields = [
        "tier",
        "source",
        "since",
        "earned_tier",
        "period_start",
        "valid_until",
        "plan_tier",
        "plan_until",
    ]
    override_fields = ["override_tier", "override_until", "override_reason"]

    def get_fieldsets(self, request, obj=None):
        override = (
            _("Manual override"),
            {
                "fields": self.override_fields,
                "description": _("Holds the member at this tier until the date, whatever they earn."),
            },
        )
        if obj is None:
            return [(None, {"fields": ["member"]}), override]
        return [(None, {"fields": ["member", *self.status_fields]}), override]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if not self.has_change_permission(request, obj):
            return ["member", *self.status_fields, *self.override_fields]
        return ["member", *self.status_fields]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        return (queryset.filter(member__member_number=term), False) if term else (queryset, False)

    def has_add_permission(self, request) -> bool:
        # an override of a member who has no status row yet creates the row: it is a change
        return request.user.has_perm("tiers.change_membertier")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_by_service(self, request, form, obj: MemberTier, change: bool) -> MemberTier:
        data = form.cleaned_data
        return tier_override(
            data.get("member") or obj.member,  # the add form asks; a change has it
            tier=data["override_tier"],
            until=data["override_until"],
            reason=data.get("override_reason", ""),
            actor=request.user,
        )

    @admin.action(description=_("End the selected overrides now"), permissions=["change"])
    def end_override(self, request, queryset):
        overridden = queryset.filter(override_tier__isnull=False).select_related("member")
        run_each(
            request,
            overridden,
            lambda status: tier_override_end(
                status.member, actor=request.user, reason=str(_("Ended in the admin"))
            ),
            _("%(count)d overrides ended."),
            label=lambda status: str(status.member),
            log=lambda status: self.log_change(request, status, str(_("Override ended"))),
        )
