"""Admin of review holds: the limits operators set, and the approvers' queue of held awards.

An interface only: release and reject go through ``campaigns.earning.reviews``.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from campaigns.admin import scope_text
from campaigns.admin_awards import award_fact, explanation, lines_prefetch
from campaigns.earning.reviews import DECIDE_PERMISSION, award_reject, award_release
from campaigns.models import AwardReview, ReviewLimit
from campaigns.selectors import recent_rule_book
from config.common.admin import ModelAdmin, run_each
from config.common.admin_governance import GovernedAdmin
from members.admin_helpers import HistoryAdmin, MemberColumnMixin, member_ids


@admin.register(ReviewLimit)
class ReviewLimitAdmin(GovernedAdmin, HistoryAdmin):
    list_display = ["point_type", "scope", "above_display", "active"]
    list_filter = ["point_type", "channel", "active"]
    list_select_related = ["point_type", "store"]
    autocomplete_fields = ["store"]
    fieldsets = [
        (None, {"fields": ["point_type", "above", "active"]}),
        (
            _("Scope"),
            {
                "fields": ["channel", "store"],
                "description": _(
                    "The most specific limit applies: the store's, else the channel's, else the default."
                ),
            },
        ),
    ]

    @admin.display(description=_("scope"))
    def scope(self, limit: ReviewLimit) -> str:
        return scope_text(limit)

    @admin.display(description=_("review awards above"), ordering="above")
    def above_display(self, limit: ReviewLimit) -> str:
        return f"{limit.above:,}"


def _amounts(values: dict[str, int]) -> str:
    """One line per point type, in the point types' order: ``积分 1,000,000``."""
    types = sorted(recent_rule_book().point_types.values(), key=lambda pt: pt.pk)  # no query per row
    rows = [(pt.name, f"{values[pt.code]:,}") for pt in types if pt.code in values]
    return format_html_join(mark_safe("<br>"), "{} {}", rows) if rows else "-"


@admin.register(AwardReview)
class AwardReviewAdmin(MemberColumnMixin, ModelAdmin):
    """The approvers' queue: awards above a review limit, or of a frozen member, waiting; release
    or reject."""

    list_display = [
        "created_at",
        "member",
        "fact",
        "points_display",
        "reason",
        "limits_display",
        "status",
        "decided_by",
    ]
    list_filter = ["status", "reason"]
    list_select_related = ["member", "award__purchase", "award__event__event_type", "decided_by"]
    search_fields = ["award__key"]  # shows the search box; the search itself is get_search_results
    search_help_text = _("Exact member number or order number.")
    actions = ["release", "reject"]
    fields = readonly_fields = (
        "status",
        "reason",
        "member_link",
        "fact",
        "points_display",
        "limits_display",
        "explanation_display",
        "created_at",
        "decided_by",
        "decided_at",
        "note",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related(lines_prefetch("award__lines"))

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(
            Q(member_id__in=member_ids(term)) | Q(award__purchase__order_number=term)
        ), False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm(DECIDE_PERMISSION):
            actions.pop("release", None)
            actions.pop("reject", None)
        return actions

    @admin.action(description=_("Release the selected awards: post their points"))
    def release(self, request, queryset):
        self._decide(
            request, queryset, award_release, AwardReview.Status.RELEASED, _("%(count)d awards released.")
        )

    @admin.action(description=_("Reject the selected awards: post nothing"))
    def reject(self, request, queryset):
        self._decide(
            request, queryset, award_reject, AwardReview.Status.REJECTED, _("%(count)d awards rejected.")
        )

    def _decide(self, request, queryset, decide, status: AwardReview.Status, done_message) -> None:
        if not request.user.has_perm(DECIDE_PERMISSION):
            raise PermissionDenied

        def log(review: AwardReview) -> None:  # who decided is on the row too; the log has when and what
            LogEntry.objects.log_actions(request.user.pk, [review], CHANGE, change_message=str(status.label))

        run_each(
            request,
            queryset.filter(status=AwardReview.Status.HELD).order_by("pk"),
            lambda review: decide(review, actor=request.user),
            done_message,
            log=log,
        )

    @admin.display(description=_("fact"))
    def fact(self, review: AwardReview) -> str:
        return award_fact(review.award)

    @admin.display(description=_("points held"))
    def points_display(self, review: AwardReview) -> str:
        return _amounts(review.points)

    @admin.display(description=_("limits exceeded"))
    def limits_display(self, review: AwardReview) -> str:
        return _amounts(review.limits)

    @admin.display(description=_("explanation"))
    def explanation_display(self, review: AwardReview) -> str:
        return explanation(review.award)

    @admin.display(description=_("member"))
    def member_link(self, review: AwardReview) -> str:
        return self.member_masked(review)
