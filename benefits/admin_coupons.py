"""Coupons in the admin: the coupons list and page, with each redemption and its undoing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.db.models import Q
from django.urls import path
from django.utils.translation import gettext_lazy as _

from benefits.admin_views import redeem_view
from benefits.coupons import coupon_void, normalise_code
from benefits.models import Coupon, CouponRedemption
from config.common.admin import (
    LargeTablePaginator,
    ModelAdmin,
    ReadOnlyInline,
    newest_rows,
    run_each,
)
from members.admin_helpers import MemberColumnMixin, looked_up, member_ids, remember_looked_up
from members.selectors import members_visible_to

if TYPE_CHECKING:
    pass


# --- coupons ----------------------------------------------------------------------------------


class CouponRedemptionInline(ReadOnlyInline):
    """A coupon's redemptions, undone ones included (who undid them, when, why)."""

    model = CouponRedemption
    formset = newest_rows("-redeemed_at", "-id")
    fields = [
        "redeemed_at",
        "store",
        "channel",
        "order_number",
        "amount",
        "eligible_amount",
        "discount",
        "redeemed_by",
        "void_until",
        "voided_at",
        "voided_by",
        "void_reason",
    ]
    verbose_name_plural = _("redemptions")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("store", "redeemed_by", "voided_by")


@admin.register(Coupon)
class CouponAdmin(MemberColumnMixin, ModelAdmin):
    """Read-only, built for millions of rows: exact code or member number search, no full count."""

    list_display = [
        "display_code",
        "benefit",
        "member",
        "status",
        "origin",
        "valid_until",
        "redeemed_at",
        "redeemed_store",
    ]
    list_filter = ["status", "origin", "benefit"]
    list_select_related = ["benefit", "member", "redeemed_store"]
    search_fields = ["code"]  # shows the search box; the search itself is get_search_results
    search_help_text = _("Exact coupon code or member number.")
    show_full_result_count = False
    paginator = LargeTablePaginator
    list_per_page = 50
    ordering = ["-id"]
    sortable_by = ()
    actions = ["void"]
    inlines = [CouponRedemptionInline]
    fields = readonly_fields = (
        "display_code",
        "benefit",
        "member",
        "status",
        "origin",
        "valid_from",
        "valid_until",
        "issued_at",
        "entitlement",
        "period_key",
        "redeemed_at",
        "redeemed_store",
        "redeemed_by",
        "voided_at",
        "voided_by",
        "void_reason",
    )

    def get_urls(self):
        return [
            path("redeem/", self.admin_site.admin_view(self.redeem_view), name="benefits_coupon_redeem"),
            *super().get_urls(),
        ]

    def redeem_view(self, request):
        return redeem_view(request, self.admin_site)

    def can_browse(self, request) -> bool:
        return request.user.has_perm("members.browse_member")

    def get_list_filter(self, request):
        return self.list_filter if self.can_browse(request) else []

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if self.can_browse(request):
            return queryset
        # store staff: coupons of their stores' members and of members they looked up
        visible = members_visible_to(request.user, looked_up=looked_up(request))
        return queryset.filter(member__in=visible.values("pk"))

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            # store staff see a coupon only by its code or its member's number, never the list
            return (queryset if self.can_browse(request) else queryset.none()), False
        found = Q(code=normalise_code(term)) | Q(member_id__in=member_ids(term))
        if self.can_browse(request):
            return queryset.filter(found), False
        # The code or number was presented at the counter: an exact lookup, of any store.
        coupons = super().get_queryset(request).filter(found)  # unscoped: the lookup is exact
        remember_looked_up(request, coupons.values_list("member_id", flat=True).distinct()[:20])
        return coupons, False

    def changelist_view(self, request, extra_context=None):
        if not self.can_browse(request) and not request.GET.get("q"):
            messages.info(request, _("Type a coupon code or the member's number to look it up."))
        context = {"can_redeem": request.user.has_perm("benefits.redeem_coupon"), **(extra_context or {})}
        return super().changelist_view(request, context)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_void_permission(self, request) -> bool:
        return request.user.has_perm("benefits.change_coupon")

    @admin.display(description=_("code"))
    def display_code(self, coupon: Coupon) -> str:
        return coupon.display_code

    @admin.action(description=_("Void the selected unused coupons"), permissions=["void"])
    def void(self, request, queryset):
        def void_one(coupon: Coupon) -> None:
            coupon_void(coupon, actor=request.user, reason=str(_("Voided in the admin")))

        run_each(
            request,
            queryset.select_related("benefit", "redemption"),
            void_one,
            _("%(count)d coupons voided."),
            label=lambda coupon: coupon.display_code,
            log=lambda coupon: self.log_change(request, coupon, str(_("Voided"))),
        )
