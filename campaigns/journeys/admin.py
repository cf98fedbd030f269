"""Journeys in the admin: a journey and its steps are edited as a draft, then go through the
campaigns' lifecycle (submit, approve by someone else, schedule) with the same buttons; the
results page shows who entered, where they are, and conversion against the control group. The
members' walks (``JourneyEntry``) are read-only: the job writes them."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from campaigns import admin_views
from campaigns.admin import DraftOnlyMixin
from campaigns.forms import status_label
from campaigns.journeys import selectors
from campaigns.journeys.models import Journey, JourneyEntry, JourneyStep
from campaigns.segments.admin import AuthoredAdmin
from campaigns.services import allowed_actions
from config.common.admin import LargeTablePaginator, ReadOnlyAdmin, TabularInline
from config.common.formats import percent, whole
from members.admin_helpers import MemberColumnMixin


class StepInline(TabularInline):
    model = JourneyStep
    extra = 0
    fields = [
        "position",
        "kind",
        "wait_days",
        "segment",
        "template",
        "benefit",
        "point_type",
        "points",
        "tag",
    ]
    # segments and templates are few: plain lists read better than searches
    autocomplete_fields = ["benefit", "tag"]
    ordering = ["position"]

    def has_add_permission(self, request, obj=None) -> bool:
        return super().has_add_permission(request, obj) and (obj is None or obj.editable)

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and (obj is None or obj.editable)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and (obj is None or obj.editable)


RECORD = ["status_display", "created_by", "approved_by", "approved_at", "created_at"]


@admin.register(Journey)
class JourneyAdmin(DraftOnlyMixin, AuthoredAdmin):
    list_display = ["name", "code", "status_display", "trigger", "starts_at", "ends_at", "created_by"]
    list_filter = ["status", "trigger"]
    search_fields = ["name", "code"]
    search_help_text = _("Part of the name or code.")
    inlines = [StepInline]
    change_form_template = "admin/journeys/journey/change_form.html"

    def get_fieldsets(self, request, obj=None):
        return [
            (
                None,
                {"fields": ["code", "name", "description", "starts_at", "ends_at", *(RECORD if obj else [])]},
            ),
            (
                _("Trigger"),
                {
                    "fields": ["trigger", "days", "segment", "reentry_days"],
                    "description": _(
                        "Who enters: members who meet the trigger (and are in the segment, when one is set)."
                    ),
                },
            ),
            (
                _("Exit and measurement"),
                {"fields": ["exit_on_purchase", "holdout_percent", "conversion_days"]},
            ),
        ]

    def get_readonly_fields(self, request, obj=None):
        return [*(RECORD if obj else []), *super().get_readonly_fields(request, obj)]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by", "approved_by")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a journey ends; its members' walks stay for the results

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(
                {
                    "lifecycle_buttons": [
                        (action, admin_views.BUTTONS[action]) for action in allowed_actions(obj, request.user)
                    ],
                    "campaign_status": status_label(obj),
                    "lifecycle_url": reverse("admin:journeys_lifecycle_transition", args=[obj.pk]),
                    "status_note": admin_views.status_note(obj, self.has_change_permission(request, obj)),
                    "results_url": reverse("admin:journeys_journey_results", args=[obj.pk]),
                }
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/transition/",
                view(self.transition_view),
                name="journeys_lifecycle_transition",
            ),
            path("<path:object_id>/results/", view(self.results_view), name="journeys_journey_results"),
            *super().get_urls(),
        ]

    def transition_view(self, request, object_id):
        return admin_views.transition_view(request, self, object_id)

    def results_view(self, request, object_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        journey = self.get_object(request, object_id)
        if journey is None:
            return HttpResponseRedirect(reverse("admin:journeys_journey_changelist"))
        results = selectors.journey_results(journey)
        audience = selectors.journey_audience(journey) if "audience" in request.GET else None
        rows = [
            (_("entered"), whole(results.entered)),
            (_("control group"), whole(results.control)),
            (_("in the journey now"), whole(results.active)),
            (_("completed"), whole(results.completed)),
            *((label, whole(count)) for label, count in results.exits),
            (_("messages queued"), whole(results.messages)),
            (_("messages sent"), whole(results.sent)),
            (_("messages not sent (consent, caps, no address)"), whole(results.blocked)),
            (_("coupons issued"), whole(results.coupons)),
            (_("coupons redeemed"), whole(results.redeemed)),
            (_("conversion in the journey"), percent(results.conversion)),
            (_("conversion in the control group"), percent(results.control_conversion)),
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": _("Results of “%(journey)s”") % {"journey": journey.name},
            "opts": Journey._meta,
            "original": journey,
            "campaign_status": status_label(journey),
            "window": admin_views.window(journey),
            "rows": rows,
            "conversion_days": journey.conversion_days,
            "audience": audience,
        }
        return TemplateResponse(request, "admin/journeys/journey/results.html", context)

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, journey: Journey) -> str:
        return status_label(journey)


@admin.register(JourneyEntry)
class JourneyEntryAdmin(MemberColumnMixin, ReadOnlyAdmin):
    list_display = [
        "journey",
        "member",
        "status",
        "exit_reason",
        "position",
        "due_at",
        "entered_at",
        "finished_at",
    ]
    list_filter = ["journey", "status", "exit_reason"]
    list_select_related = ["journey", "member"]
    search_fields = ["=member__member_number"]
    search_help_text = _("Member number.")
    ordering = ["-pk"]
    show_full_result_count = False
    paginator = LargeTablePaginator
    list_per_page = 100
    exclude = ["coupon"]
