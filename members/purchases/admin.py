"""Admin for what members did (purchases with their lines and refunds): read-only, exportable.

Facts are written by ``members.purchases.services`` (the API, imports, the earning pipeline), never by
hand: a corrected order arrives as a refund, not as an edit.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from config.common.admin import LargeTablePaginator, ModelAdmin, TabularInline
from config.common.exports import SpreadsheetExportMixin
from members.models import Member
from members.purchases.models import Purchase, PurchaseLine, Refund
from members.purchases.resources import PurchaseResource


class ReadOnlyInline(TabularInline):
    extra = 0
    can_delete = False
    hide_title = True  # the row's cells say what the theme's row heading would

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class PurchaseLineInline(ReadOnlyInline):
    model = PurchaseLine
    fields = readonly_fields = ("sku", "name", "category", "quantity", "amount")


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = readonly_fields = ("source", "refund_number", "amount", "occurred_at", "created_at")


@admin.register(Purchase)
class PurchaseAdmin(SpreadsheetExportMixin, ModelAdmin):
    resource_classes = [PurchaseResource]
    list_display = [
        "occurred_at",
        "source",
        "order_number",
        "channel",
        "store",
        "member_number",
        "paid_amount",
        "refunded_amount",
        "status",
    ]
    list_filter = ["channel", "status"]
    list_select_related = ["store", "member"]
    search_fields = ["member__member_number"]  # shows the search box; the search is get_search_results
    search_help_text = _("Exact member number.")
    show_full_result_count = False
    paginator = LargeTablePaginator
    list_per_page = 100
    ordering = ["-id"]
    inlines = [PurchaseLineInline, RefundInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        # By member only: (member, occurred_at) is indexed; order numbers are unique only per source.
        members = list(Member.objects.filter(member_number=term).values_list("pk", flat=True))
        return queryset.filter(member_id__in=members), False

    @admin.display(description=_("member number"), ordering="member__member_number")
    def member_number(self, purchase: Purchase) -> str:
        return purchase.member.member_number
