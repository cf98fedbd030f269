"""Scores in the admin: the member list per segment (exportable), the settings, the member page."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from config.common.admin import LargeTablePaginator, ReadOnlyAdmin, ReadOnlyInline, local_date
from config.common.exports import ExportResource, SpreadsheetExportMixin
from members.admin import MEMBER_PAGE_INLINES
from members.admin_helpers import MemberColumnMixin, SettingsAdmin
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
    """Members of a segment or stage (the RFM page links here), newest members first: the
    (segment, member) and (stage, member) indexes give a page without sorting a million rows;
    sorting by sales is a click away."""

    export_resource_classes = [MemberScoreResource]
    list_display = ["member", "segment", "rfm", "frequency", "monetary", "last_purchase", "stage"]
    list_filter = ["segment", "stage"]
    list_select_related = ["member"]
    ordering = ["-member_id"]
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
class ScoringSettingsAdmin(SettingsAdmin):
    fieldsets = [
        (
            _("RFM"),
            {"fields": ["window_days", "method", "recent_days", "frequent_orders", "monetary_amount"]},
        ),
        (_("Lifecycle stages"), {"fields": ["new_days", "active_days", "dormant_days"]}),
    ]


class MemberScoreInline(ReadOnlyInline):
    model = MemberScore
    fields = ["segment", "r", "f", "m", "frequency", "monetary", "last_purchase_at", "stage", "scored_at"]
    verbose_name_plural = _("RFM and lifecycle")


MEMBER_PAGE_INLINES.append(MemberScoreInline)
