"""The fulfilment queue: redemptions of physical gifts, waiting, shipped, delivered or cancelled.

An interface only: shipping, delivering and cancelling go through ``benefits.rewards``, which
check the status the row had when the page was drawn, so two clerks cannot ship one gift twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from benefits.errors import StatusChanged
from benefits.models import Redemption
from benefits.rewards import redemption_advance, redemption_cancel
from config.common.admin import (
    LargeTablePaginator,
    ServiceAdmin,
    ServiceForm,
    run_each,
)
from members import masking
from members.admin_helpers import MemberColumnMixin, member_ids

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


OPEN = [Redemption.Status.REQUESTED, Redemption.Status.SHIPPED]


class FulfilmentFilter(admin.SimpleListFilter):
    """Status, defaulting to the open physical gifts (waiting or shipped): the queue."""

    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [
            ("open", _("Open gifts (waiting or shipped)")),
            *Redemption.Status.choices,
            ("all", _("All")),
        ]

    def choices(self, changelist):
        value = self.value() or "open"
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or "open"
        if value == "all":
            return queryset
        if value in Redemption.Status.values:
            return queryset.filter(status=value)
        return queryset.filter(status__in=OPEN)


class FulfilmentForm(ServiceForm):
    """The tracking number only; ``RedemptionAdmin.save_by_service`` ships the gift with it."""

    class Meta:
        model = Redemption
        fields = ["tracking_number"]
        help_texts = {"tracking_number": _("Saving with a tracking number marks the gift shipped.")}


def advance_from(redemption: Redemption, expected: str, **kwargs: Any) -> Redemption:
    try:
        return redemption_advance(redemption, expected=expected, **kwargs)
    except StatusChanged as error:
        raise ValidationError(error.message) from None


@admin.register(Redemption)
class RedemptionAdmin(MemberColumnMixin, ServiceAdmin):
    form = FulfilmentForm
    list_display = [
        "created_at",
        "member",
        "reward",
        "points",
        "status",
        "ship_to",
        "tracking_number",
        "updated_at",
    ]
    list_filter = [FulfilmentFilter, "reward__kind"]
    list_select_related = ["member", "reward"]
    search_fields = ["idempotency_key"]
    search_help_text = _("Exact member number or idempotency key.")
    show_full_result_count = False
    paginator = LargeTablePaginator
    list_per_page = 100
    sortable_by = ()
    actions = ["mark_shipped", "mark_delivered", "cancel"]
    pii_columns = {**MemberColumnMixin.pii_columns, "ship_to": ("ship_to", "ship_to_masked")}
    detail_fields = [
        "member",
        "reward",
        "points",
        "status",
        "ship_to",
        "tracking_number",
        "coupon_link",
        "created_at",
        "updated_at",
        "note",
        "actor",
        "idempotency_key",
    ]

    def get_ordering(self, request):
        if request.GET.get("status", "open") == "open":
            return ["created_at", "id"]  # the queue: oldest first (the partial index's order)
        return ["-id"]

    def get_fields(self, request, obj=None):
        if masking.can_view_pii(request.user):
            return self.detail_fields
        return ["ship_to_masked" if name == "ship_to" else name for name in self.detail_fields]

    def get_readonly_fields(self, request, obj=None):
        fields = [*self.detail_fields, "ship_to_masked"]
        can_ship = (
            obj is not None
            and obj.status == Redemption.Status.REQUESTED
            and self.has_change_permission(request, obj)
        )
        return [name for name in fields if name != "tracking_number"] if can_ship else fields

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(member_id__in=member_ids(term)) | Q(idempotency_key=term)), False

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_by_service(self, request, form, obj: Redemption, change: bool) -> Redemption:
        tracking = (form.cleaned_data.get("tracking_number") or "").strip()
        if not tracking:  # nothing typed, or nothing left to type (shipped: the field is read-only)
            obj.refresh_from_db()
            return obj
        return advance_from(obj, Redemption.Status.REQUESTED, actor=request.user, tracking_number=tracking)

    @admin.display(description=_("deliver to"))
    def ship_to_masked(self, redemption: Redemption) -> str:
        return masking.mask_address(redemption.ship_to)

    @admin.display(description=_("coupon"))
    def coupon_link(self, redemption: Redemption) -> str:
        if redemption.coupon is None:  # no query when there is no coupon
            return "-"
        url = reverse("admin:benefits_coupon_change", args=[redemption.coupon_id])
        return format_html('<a href="{}">{}</a>', url, redemption.coupon.display_code)

    @admin.action(description=_("Mark shipped"), permissions=["change"])
    def mark_shipped(self, request, queryset):
        self._advance(request, queryset, Redemption.Status.REQUESTED, _("%(count)d gifts marked shipped."))

    @admin.action(description=_("Mark delivered"), permissions=["change"])
    def mark_delivered(self, request, queryset):
        self._advance(request, queryset, Redemption.Status.SHIPPED, _("%(count)d gifts marked delivered."))

    def _advance(self, request, queryset, expected: str, done_message: StrOrPromise) -> None:
        run_each(
            request,
            queryset.select_related("reward"),
            lambda redemption: advance_from(redemption, expected, actor=request.user),
            done_message,
            log=lambda redemption: self.log_change(request, redemption, str(_("Moved on in fulfilment"))),
        )

    @admin.action(description=_("Cancel and refund the points"), permissions=["change"])
    def cancel(self, request, queryset):
        run_each(
            request,
            queryset.select_related("reward"),
            lambda redemption: redemption_cancel(
                redemption, actor=request.user, reason=str(_("Cancelled in the admin"))
            ),
            _("%(count)d redemptions cancelled and their points refunded."),
            log=lambda redemption: self.log_change(request, redemption, str(_("Cancelled, points refunded"))),
        )
