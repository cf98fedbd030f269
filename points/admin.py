"""Points admin: balances on the member page, a read-only ledger, adjustments and their approval.

The ledger pages never write: adjustments go through ``points_adjust`` and approvals through
``adjustment_approve``/``adjustment_reject``. The entry list is built for ten million rows:
keyset-friendly ordering on the primary key, no full COUNT, exact-match search only.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from config.common.admin import LargeTablePaginator, ReadOnlyAdmin, TabularInline, once_per_row
from config.common.admin_governance import GovernedAdmin
from config.common.admin_widgets import ThemedForm
from config.common.exports import SpreadsheetExportMixin
from members.admin import MEMBER_PAGE_INLINES
from members.admin_helpers import HistoryAdmin
from points.errors import PointsError
from points.models import Account, AdjustmentRequest, Entry, PointType
from points.policy import last_valid_day
from points.reports import export_response, liability_tables, page_tables
from points.resources import EntryResource
from points.selectors import account_history, points_liability
from points.services import adjustment_approve, adjustment_reject, points_adjust
from points.sources import source_words, sources_text


@admin.register(PointType)
class PointTypeAdmin(GovernedAdmin, HistoryAdmin):
    list_display = [
        "code",
        "name",
        "redeemable",
        "expiry_policy",
        "expiry_period",
        "pending_days",
        "cny_value",
    ]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # accounts and entries refer to it forever

    def get_readonly_fields(self, request, obj=None):
        return ["code", "redeemable"] if obj else []


class AccountInline(TabularInline):
    """The member page's balances: one row per point type, with its latest entries."""

    model = Account
    extra = 0
    can_delete = False
    hide_title = True  # the row's cells say what the theme's row heading would
    fields = readonly_fields = (
        "point_type",
        "available",
        "pending",
        "debt",
        "earned",
        "spent",
        "expired",
        "open_lots",
        "latest",
        "actions",
    )
    verbose_name_plural = _("points balances")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        self._user = request.user  # the actions column links only to pages the user may open
        return super().get_queryset(request).select_related("point_type")

    def has_view_permission(self, request, obj=None) -> bool:
        # The member's own balances, for whoever may open the member's page: store staff read
        # them at the counter without the accounts list (``points.view_account``), which shows
        # every store's members.
        return request.user.has_perm("members.view_member") or super().has_view_permission(request, obj)

    @admin.display(description=_("open lots"))
    @once_per_row
    def open_lots(self, account: Account) -> str:
        lots = list(account.lots.filter(remaining__gt=0).order_by("expires_at", "id")[:5])
        if not lots:
            return "-"
        return format_html_join(
            mark_safe("<br>"),
            "{} · {} · {}",
            ((lot.remaining, lot.get_status_display(), self._expiry(lot)) for lot in lots),
        )

    @staticmethod
    def _expiry(lot) -> str:
        if lot.expires_at is None:
            return str(_("never expires"))
        return str(_("expires %(date)s") % {"date": last_valid_day(lot.expires_at).isoformat()})

    @admin.display(description=_("latest entries"))
    @once_per_row
    def latest(self, account: Account) -> str:
        entries = account_history(account, limit=5)
        if not entries:
            return "-"
        # Inline instances are made per request: the words found for one account (its purchase
        # earned 积分 and 成长值 alike) serve the next one without asking again.
        known = self.__dict__.setdefault("_source_words", {})
        known.update(sources_text(e.source_ref for e in entries if e.source_ref not in known))
        words = known
        return format_html(
            "<table>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td style='text-align:right'>{}</td><td>{}</td></tr>",
                (
                    (
                        f"{e.created_at:%Y-%m-%d}",
                        e.get_kind_display(),
                        f"{e.amount:+d}",
                        e.reason or source_words(e.source_ref, words),
                    )
                    for e in entries
                ),
            ),
        )

    @admin.display(description=_("actions"))
    def actions(self, account: Account) -> str:
        user = getattr(self, "_user", None)
        links = []
        if user is not None and user.has_perm("points.view_entry"):
            entries = reverse("admin:points_entry_changelist") + f"?account__id__exact={account.pk}"
            links.append(format_html('<a href="{}">{}</a>', entries, _("all entries")))
        if user is not None and user.has_perm("points.adjust_account"):
            adjust = reverse("admin:points_account_adjust", args=[account.pk])
            links.append(format_html('<a href="{}">{}</a>', adjust, _("adjust")))
        return mark_safe(" · ".join(links)) if links else "-"


MEMBER_PAGE_INLINES.append(AccountInline)


class AdjustForm(ThemedForm, forms.Form):
    amount = forms.IntegerField(label=_("points (+/-)"), help_text=_("Negative to take points away."))
    reason = forms.CharField(label=_("reason"), max_length=200, help_text=_("Shown in the member's history."))


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = [
        "member",
        "point_type",
        "available",
        "pending",
        "debt",
        "earned",
        "spent",
        "expired",
        "flagged_at",
    ]
    list_filter = ["point_type", ("flagged_at", admin.EmptyFieldListFilter)]
    list_select_related = ["member", "point_type"]
    search_fields = ["member__member_number"]
    search_help_text = _("Exact member number.")
    show_full_result_count = False
    paginator = LargeTablePaginator
    raw_id_fields = ["member"]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        return (queryset.filter(member__member_number=term), False) if term else (queryset, False)

    def get_urls(self):
        return [
            path(
                "<int:account_id>/adjust/",
                self.admin_site.admin_view(self.adjust_view),
                name="points_account_adjust",
            ),
            path(
                "liability/", self.admin_site.admin_view(self.liability_view), name="points_account_liability"
            ),
            *super().get_urls(),
        ]

    def adjust_view(self, request: HttpRequest, account_id: int):
        """Form for a manual adjustment; large ones become a request in the approval queue."""
        if not request.user.has_perm("points.adjust_account"):
            raise PermissionDenied
        account = get_object_or_404(Account.objects.select_related("member", "point_type"), pk=account_id)
        # A key per rendered form: a double-click or a browser retry posts once.
        form = AdjustForm(request.POST or None)
        key = request.POST.get("idempotency_key") or f"admin-adjust:{uuid.uuid4()}"
        if request.method == "POST" and form.is_valid():
            try:
                result = points_adjust(
                    member=account.member,
                    point_type=account.point_type,
                    amount=form.cleaned_data["amount"],
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                    idempotency_key=key,
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            except PointsError as exc:
                form.add_error(None, exc.message)
            else:
                if isinstance(result, AdjustmentRequest):
                    messages.warning(request, _("Above the approval threshold: sent to the approval queue."))
                else:
                    messages.success(request, _("Adjustment posted."))
                return HttpResponseRedirect(reverse("admin:members_member_change", args=[account.member_id]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Adjust points"),
            "opts": self.model._meta,
            "account": account,
            "form": form,
            "idempotency_key": key,
        }
        return TemplateResponse(request, "admin/points/account/adjust.html", context)

    def liability_view(self, request: HttpRequest):
        """Finance's report: the table, or the same figures as CSV/XLSX (?format=csv|xlsx)."""
        if not request.user.has_perm("points.view_liability"):
            raise PermissionDenied
        report = liability_tables(points_liability())
        fmt = request.GET.get("format")
        if fmt in {"csv", "xlsx"}:
            return export_response(report, fmt)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Points liability"),
            "opts": self.model._meta,
            "tables": page_tables(report),
        }
        return TemplateResponse(request, "admin/points/account/liability.html", context)


@admin.register(Entry)
class EntryAdmin(SpreadsheetExportMixin, ReadOnlyAdmin):
    resource_classes = [EntryResource]
    list_display = [
        "id",
        "created_at",
        "member_number",
        "point_type",
        "kind",
        "amount",
        "balance_after",
        "source",
        "source_display",
        "actor",
        "reason",
    ]
    list_filter = ["kind", "source", "account__point_type"]
    list_select_related = ["account__member", "account__point_type", "actor"]
    search_fields = ["source_ref"]
    search_help_text = _("Exact member number, source reference or idempotency key.")
    show_full_result_count = False
    paginator = LargeTablePaginator
    list_per_page = 100
    ordering = ["-id"]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        # Account ids first: an OR across a join would scan every entry; this stays three index lookups.
        accounts = list(Account.objects.filter(member__member_number=term).values_list("pk", flat=True))
        return queryset.filter(
            Q(account_id__in=accounts) | Q(source_ref=term) | Q(idempotency_key=term)
        ), False

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        # The page's sources named together: one query per kind of source, not one per entry.
        words = sources_text(entry.source_ref for entry in changelist.result_list)
        for entry in changelist.result_list:
            entry.source_words = source_words(entry.source_ref, words)
        return changelist

    @admin.display(description=_("source reference"))
    def source_display(self, entry: Entry) -> str:
        return getattr(entry, "source_words", None) or entry.source_ref or "-"

    @admin.display(description=_("member"))
    def member_number(self, entry: Entry) -> str:
        return entry.account.member.member_number

    @admin.display(description=_("point type"))
    def point_type(self, entry: Entry) -> str:
        return entry.account.point_type.name


@admin.register(AdjustmentRequest)
class AdjustmentRequestAdmin(ReadOnlyAdmin):
    """The approval queue: approvers approve or reject what others requested."""

    list_display = ["requested_at", "account", "amount", "reason", "requested_by", "status", "decided_by"]
    list_filter = ["status"]
    list_select_related = ["account__member", "account__point_type", "requested_by", "decided_by"]
    actions = ["approve", "reject"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("points.approve_adjustment"):
            actions.pop("approve", None)
            actions.pop("reject", None)
        return actions

    @admin.action(description=_("Approve and post the selected requests"))
    def approve(self, request, queryset):
        self._decide(request, queryset, lambda r: adjustment_approve(request=r, approver=request.user))

    @admin.action(description=_("Reject the selected requests"))
    def reject(self, request, queryset):
        self._decide(request, queryset, lambda r: adjustment_reject(request=r, approver=request.user))

    def _decide(self, request, queryset, decide) -> None:
        done = 0
        for adjustment in queryset.select_related("account"):
            try:
                decide(adjustment)
                done += 1
            except (PointsError, PermissionDenied) as exc:
                messages.error(request, f"{adjustment}: {getattr(exc, 'message', exc)}")
        if done:
            messages.success(request, _("%(count)d requests decided.") % {"count": done})
