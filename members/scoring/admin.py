"""Scores in the admin: the member list per segment (exportable), the settings, the member page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from config.common.admin import LargeTablePaginator, ReadOnlyAdmin, ReadOnlyInline, local_date
from config.common.exports import ExportResource, SpreadsheetExportMixin
from members.admin import MEMBER_PAGE_INLINES
from members.admin_helpers import HistoryAdmin, MemberColumnMixin
from members.scoring.models import MemberScore, ScoringSettings


class MemberScoreResource(ExportResource):
    """Member numbers only (no names or phones): the list feeds campaigns, not address books."""

    select_related = ("member",)

    class Meta:
        model = MemberScore
        fields = [
            "member__member_number",
            "segment",
            "r",
            "f",
            "m",
            "frequency",
            "monetary",
            "last_purchase_at",
            "stage",
        ]
        export_order = fields


@admin.register(MemberScore)
class MemberScoreAdmin(SpreadsheetExportMixin, MemberColumnMixin, ReadOnlyAdmin):
    """Members of a segment or stage (the RFM page links here), best customers first."""

    export_resource_classes = [MemberScoreResource]
    list_display = ["member", "segment", "rfm", "frequency", "monetary", "last_purchase", "stage"]
    list_filter = ["segment", "stage"]
    list_select_related = ["member"]
    ordering = ["-monetary", "member_id"]
    show_full_result_count = False
    paginator = LargeTablePaginator
    list_per_page = 100

    @admin.display(description="RFM")
    def rfm(self, obj: MemberScore) -> str:
        return f"{obj.r}{obj.f}{obj.m}"

    @admin.display(description=_("last purchase"), ordering="last_purchase_at")
    def last_purchase(self, obj: MemberScore) -> str:
        return local_date(obj.last_purchase_at)


@admin.register(ScoringSettings)
class ScoringSettingsAdmin(HistoryAdmin):
    fieldsets = [
        (
            _("RFM"),
            {"fields": ["window_days", "method", "recent_days", "frequent_orders", "monetary_amount"]},
        ),
        (_("Lifecycle stages"), {"fields": ["new_days", "active_days", "dormant_days"]}),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        """One row of settings: the list opens it."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return HttpResponseRedirect(
            reverse("admin:scoring_scoringsettings_change", args=[ScoringSettings.current().pk])
        )


class MemberScoreInline(ReadOnlyInline):
    model = MemberScore
    fields = ["segment", "r", "f", "m", "frequency", "monetary", "last_purchase_at", "stage", "scored_at"]
    verbose_name_plural = _("RFM and lifecycle")


MEMBER_PAGE_INLINES.append(MemberScoreInline)
