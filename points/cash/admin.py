"""Points as cash in the admin: the rule per point type (with its history), the holds (read only:
tills hold, capture and release them; the job releases expired ones), a member's holds on the
member page, and finance's report of points used as cash by store and day (CSV/XLSX too).

Operators never type JSON: channels are ticked, categories and SKUs typed as text.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from config.common.admin import ReadableListsMixin, ReadOnlyAdmin, ReadOnlyInline, local_date, newest_rows
from config.common.admin_governance import GovernedAdmin
from config.common.admin_widgets import ListField, ThemedForm, join_list, ticks
from members.admin import MEMBER_PAGE_INLINES
from members.admin_helpers import HistoryAdmin, MemberColumnMixin, member_ids
from members.models import Channel, Store
from points.cash.models import CashRule, Hold
from points.cash.reports import cash_table, export_response, page_rows
from points.cash.selectors import cash_by_store_and_day

# --- the rule ---------------------------------------------------------------------------------


class CashRuleForm(forms.ModelForm):
    excluded_categories = ListField(
        label=capfirst(_("excluded categories")),
        help_text=_("Lines in these categories cannot be paid with points. Commas or one per line."),
    )
    excluded_skus = ListField(
        label=capfirst(_("excluded SKUs")),
        help_text=_("Lines of these SKUs cannot be paid with points. Commas or one per line."),
    )
    channels = forms.MultipleChoiceField(
        label=capfirst(_("channels")),
        choices=Channel.choices,
        required=False,
        widget=ticks(),
        help_text=_("None ticked: every channel."),
    )

    class Meta:
        model = CashRule
        fields = [
            "point_type",
            "active",
            "step",
            "max_share",
            "min_balance",
            "excluded_categories",
            "excluded_skus",
            "channels",
            "stores",
            "hold_minutes",
        ]


@admin.register(CashRule)
class CashRuleAdmin(GovernedAdmin, ReadableListsMixin, HistoryAdmin):
    """What points may pay at the till: one rule per redeemable point type."""

    form = CashRuleForm
    readable = {
        "excluded_categories": "categories_display",
        "excluded_skus": "skus_display",
        "channels": "channels_display",
    }
    list_display = ["point_type", "active", "value", "step", "max_share", "min_balance", "hold_minutes"]
    list_select_related = ["point_type"]
    autocomplete_fields = ["stores"]
    fieldsets = [
        (
            None,
            {"fields": ["point_type", "active", "value", "step", "max_share", "min_balance", "hold_minutes"]},
        ),
        (_("Exclusions"), {"fields": ["excluded_categories", "excluded_skus"]}),
        (_("Where"), {"fields": ["channels", "stores"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        fixed = [*super().get_readonly_fields(request, obj), "value"]
        return [*fixed, "point_type"] if obj is not None else fixed

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # holds and their history refer to it: switch it off instead

    @admin.display(description=_("value of 100 points (CNY)"))
    def value(self, rule: CashRule) -> str:
        if rule.point_type_id is None:
            return "-"
        return f"{rule.point_type.cny_value * 100:.2f}"

    @admin.display(description=_("excluded categories"))
    def categories_display(self, rule: CashRule) -> str:
        return join_list(rule.excluded_categories) or "-"

    @admin.display(description=_("excluded SKUs"))
    def skus_display(self, rule: CashRule) -> str:
        return join_list(rule.excluded_skus) or "-"

    @admin.display(description=_("channels"))
    def channels_display(self, rule: CashRule) -> str:
        labels = dict(Channel.choices)
        return ", ".join(str(labels.get(c, c)) for c in rule.channels) or str(_("every channel"))


# --- holds ------------------------------------------------------------------------------------


class ReportForm(ThemedForm, forms.Form):
    first = forms.DateField(
        label=pgettext_lazy("first day", "from"), widget=forms.DateInput(attrs={"type": "date"})
    )
    last = forms.DateField(label=_("to (included)"), widget=forms.DateInput(attrs={"type": "date"}))
    store = forms.ModelChoiceField(
        label=_("store"),
        queryset=Store.objects.order_by("code"),
        required=False,
        empty_label=_("every store"),
    )

    def clean(self):
        data = super().clean() or {}
        if data.get("first") and data.get("last") and data["first"] > data["last"]:
            self.add_error("last", _("The last day comes before the first."))
        elif data.get("first") and data.get("last") and (data["last"] - data["first"]).days > 366:
            self.add_error("last", _("At most a year at a time."))
        return data


@admin.register(Hold)
class HoldAdmin(MemberColumnMixin, ReadOnlyAdmin):
    """Every hold the tills took: read only (tills capture and release them, the job releases
    expired ones)."""

    list_display = [
        "id",
        "created_at",
        "member",
        "points",
        "value",
        "status",
        "store",
        "channel",
        "partner",
        "expires_at",
        "order_number",
        "released",
    ]
    list_filter = ["status", "channel", "release_reason"]
    list_select_related = ["member", "store", "partner", "purchase"]
    search_fields = ["reference"]
    search_help_text = _("Exact member number or till reference.")
    show_full_result_count = False
    ordering = ["-id"]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(member_id__in=member_ids(term)) | Q(reference=term)), False

    def get_urls(self):
        report = path("report/", self.admin_site.admin_view(self.report_view), name="cash_hold_report")
        return [report, *super().get_urls()]

    @admin.display(description=_("purchase"))
    def order_number(self, hold: Hold) -> str:
        return hold.purchase.order_number if hold.purchase_id and hold.purchase else "-"

    @admin.display(description=_("released"))
    def released(self, hold: Hold) -> str:
        if hold.released_at is None:
            return "-"
        return f"{local_date(hold.released_at)} · {hold.get_release_reason_display()}"

    def report_view(self, request: HttpRequest):
        """Finance's report: points used as cash by store and day, on the page or as CSV/XLSX."""
        if not request.user.has_perm("cash.view_cash_report"):
            raise PermissionDenied
        today = timezone.localdate()
        initial = {"first": today.replace(day=1), "last": today}
        form = ReportForm(request.GET if "first" in request.GET else None, initial=initial)
        first, last, store = initial["first"], initial["last"], None
        if form.is_valid():
            first, last, store = (
                form.cleaned_data["first"],
                form.cleaned_data["last"],
                form.cleaned_data["store"],
            )
        table = cash_table(cash_by_store_and_day(first, last, store=store))
        fmt = request.GET.get("format")
        if fmt in {"csv", "xlsx"}:
            return export_response(table, fmt, first, last)
        query = f"first={first}&last={last}" + (f"&store={store.pk}" if store else "")
        context = {
            **self.admin_site.each_context(request),
            "title": _("Points as cash by store and day"),
            "opts": self.model._meta,
            "form": form,
            "headers": list(table.headers),
            "rows": page_rows(table),
            "query": query,
        }
        return TemplateResponse(request, "admin/cash/hold/report.html", context)


class MemberHoldsInline(ReadOnlyInline):
    """The member page: the member's latest holds at tills, what they paid or why they came back."""

    model = Hold
    fk_name = "member"
    formset = newest_rows("-id")
    fields = ["created_at", "points", "value", "status", "store", "expires_at", "order_number", "released"]
    verbose_name_plural = _("points as cash (latest 20)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("store", "purchase")

    def has_view_permission(self, request, obj=None) -> bool:
        # the member's own holds, for whoever may open the member's page (as its balances)
        return request.user.has_perm("members.view_member") or super().has_view_permission(request, obj)

    order_number = HoldAdmin.order_number
    released = HoldAdmin.released


MEMBER_PAGE_INLINES.append(MemberHoldsInline)
