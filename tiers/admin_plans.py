"""Paid membership in the admin: plans, subscriptions (an operator records a payment; stops a
renewal; ends a period early with its refund), the API's plan orders, and finance's membership
fee revenue report. An interface only: ``tiers.subscriptions`` writes, ``tiers.revenue`` reads.
"""

from __future__ import annotations

import datetime

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from config.common.admin import LargeTablePaginator, ReadOnlyAdmin, ServiceAdmin, ServiceForm, run_each
from config.common.admin_governance import GovernedAdmin
from config.common.admin_widgets import MonthInput, ThemedForm
from config.common.errors import BusinessRuleError
from config.common.formats import money
from members.admin_helpers import HistoryAdmin, MemberColumnMixin, member_ids
from tiers.models import Plan, PlanOrder, Subscription
from tiers.revenue import MAX_MONTHS, revenue_schedule
from tiers.revenue_report import export_response, page_tables, revenue_tables
from tiers.subscriptions import refund_quote, subscription_cancel, subscription_start

#: Inlines apps above tiers add to the paid plan page (entitlements); ``tiers.admin`` re-exports it.
PLAN_PAGE_INLINES: list[type[admin.options.InlineModelAdmin]] = []


@admin.register(Plan)
class PlanAdmin(GovernedAdmin, HistoryAdmin):
    list_display = [
        "name",
        "code",
        "price",
        "duration_months",
        "tier",
        "auto_renew",
        "refund_policy",
        "cancellation_fee",
        "active",
    ]
    list_filter = ["active", "tier"]
    list_select_related = ["tier"]
    fields = [
        "code",
        "name",
        "price",
        "duration_months",
        "tier",
        "auto_renew",
        "refund_policy",
        "cancellation_fee",
        "active",
    ]

    def get_inlines(self, request, obj):
        return [*self.inlines, *PLAN_PAGE_INLINES]


class SubscriptionForm(ServiceForm):
    """A payment an operator records (a counter sale, a transfer): ``subscription_start``."""

    class Meta:
        model = Subscription
        fields = ["member", "plan", "payment_ref", "price", "paid_at"]
        help_texts = {"price": _("What the member paid; the plan's price if they paid that.")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if isinstance(plan := self.fields.get("plan"), forms.ModelChoiceField):
            plan.queryset = Plan.objects.filter(active=True)
        if "price" in self.fields:
            self.fields["price"].required = False
        if "paid_at" in self.fields:
            self.fields["paid_at"].initial = timezone.now


class EndForm(ThemedForm, forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=200, help_text=_("Kept on the subscription."))


@admin.register(Subscription)
class SubscriptionAdmin(MemberColumnMixin, ServiceAdmin):
    """Periods come from the API's orders or from a payment an operator records here; an early
    end shows its refund first (``end_view``)."""

    form = SubscriptionForm
    change_list_template = "admin/tiers/subscription/change_list.html"
    change_form_template = "admin/tiers/subscription/change_form.html"
    list_display = [
        "member",
        "plan",
        "starts_at",
        "ends_at",
        "status",
        "auto_renew",
        "price",
        "payment_ref",
        "refund_amount",
        "cancelled_at",
    ]
    list_filter = ["status", "plan", "auto_renew"]
    list_select_related = ["member", "plan"]
    search_fields = ["payment_ref"]
    search_help_text = _("Exact payment reference or member number.")
    show_full_result_count = False
    paginator = LargeTablePaginator
    ordering = ["-id"]
    autocomplete_fields = ["member"]
    actions = ["cancel"]
    readonly_fields = [
        "member",
        "plan",
        "starts_at",
        "ends_at",
        "paid_until",
        "status",
        "auto_renew",
        "price",
        "payment_ref",
        "paid_at",
        "refund_policy",
        "cancellation_fee",
        "refund_amount",
        "renewal_of",
        "cancelled_at",
        "cancelled_by",
        "cancel_reason",
        "actor",
        "created_at",
    ]

    def get_fields(self, request, obj=None):
        return list(SubscriptionForm.Meta.fields) if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(payment_ref=term) | Q(member_id__in=member_ids(term))), False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a period is recorded once; it is stopped or ended, never edited

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("tiers.change_subscription")

    def save_by_service(self, request, form, obj: Subscription, change: bool) -> Subscription:
        data = form.cleaned_data
        return subscription_start(
            data["member"],
            plan=data["plan"],
            payment_ref=data["payment_ref"],
            price=data.get("price"),
            paid_at=data["paid_at"],
            actor=request.user,
        )

    def get_urls(self):
        return [
            path(
                "<int:subscription_id>/end/",
                self.admin_site.admin_view(self.end_view),
                name="tiers_subscription_end",
            ),
            path(
                "revenue/", self.admin_site.admin_view(self.revenue_view), name="tiers_subscription_revenue"
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = dict(extra_context or {})
        subscription = Subscription.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        if (
            subscription is not None
            and self.has_cancel_permission(request)
            and refund_quote(subscription) is not None
        ):
            context["end_url"] = reverse("admin:tiers_subscription_end", args=[subscription.pk])
        return super().change_view(request, object_id, form_url, context)

    @admin.action(
        description=_("Cancel (stops renewing; runs to the end of the period)"), permissions=["cancel"]
    )
    def cancel(self, request, queryset):
        # the service records who in cancelled_by; the reason names them too, for the list and log
        reason = str(_("Cancelled in the admin by %(user)s") % {"user": request.user.get_username()})
        run_each(
            request,
            queryset.select_related("member"),
            lambda subscription: subscription_cancel(subscription, actor=request.user, reason=reason),
            _("%(count)d subscriptions will not renew."),
            log=lambda subscription: self.log_change(request, subscription, reason),
        )

    def end_view(self, request: HttpRequest, subscription_id: int):
        """End a period now: the refund its terms give is shown before the operator confirms."""
        if not self.has_cancel_permission(request):
            raise PermissionDenied
        subscription = get_object_or_404(
            Subscription.objects.select_related("member", "plan"), pk=subscription_id
        )
        back = reverse("admin:tiers_subscription_change", args=[subscription.pk])
        form = EndForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            reason, now = form.cleaned_data["reason"], timezone.now()
            refund = refund_quote(subscription, now)  # what the cancellation records, at the same time
            try:
                ended = subscription_cancel(
                    subscription, actor=request.user, reason=reason, immediately=True, at=now
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            except BusinessRuleError as exc:
                form.add_error(None, exc.message)
            else:
                self.log_change(request, ended, reason)
                messages.success(
                    request, _("Ended. Refund to pay back: ¥%(amount)s.") % {"amount": money(refund)}
                )
                return HttpResponseRedirect(back)
        quote = refund_quote(subscription)
        context = {
            **self.admin_site.each_context(request),
            "title": _("End a subscription now"),
            "opts": self.model._meta,
            "subscription": subscription,
            "quote": None if quote is None else money(quote),
            "form": form,
            "back": back,
        }
        return TemplateResponse(request, "admin/tiers/subscription/end.html", context)

    def revenue_view(self, request: HttpRequest):
        """Finance's report: the schedule, or the same as CSV/XLSX (?format=csv|xlsx)."""
        if not request.user.has_perm("tiers.view_deferred_revenue"):
            raise PermissionDenied
        this_month = timezone.localdate().replace(day=1)
        last = _month(request.GET.get("to")) or this_month
        first = _month(request.GET.get("from")) or (last - datetime.timedelta(days=335)).replace(day=1)
        if first > last:
            first, last = last, first
        first = max(first, _months_before(last, MAX_MONTHS - 1))
        tables = revenue_tables(revenue_schedule(first, last))
        fmt = request.GET.get("format")
        if fmt in ("csv", "xlsx"):
            return export_response(tables, fmt, f"{first:%Y-%m}-{last:%Y-%m}")
        context = {
            **self.admin_site.each_context(request),
            "title": _("Membership fee revenue"),
            "opts": self.model._meta,
            "tables": page_tables(tables),
            "form": MonthsForm({"from": f"{first:%Y-%m}", "to": f"{last:%Y-%m}"}),
            "first": f"{first:%Y-%m}",
            "last": f"{last:%Y-%m}",
        }
        return TemplateResponse(request, "admin/tiers/subscription/revenue.html", context)


class MonthsForm(ThemedForm, forms.Form):
    """The report's months (``from``, ``to``: Python keywords, so the fields are added here)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from"] = forms.CharField(label=_("first month"), widget=MonthInput(), required=False)
        self.fields["to"] = forms.CharField(label=_("last month"), widget=MonthInput(), required=False)


def _month(value: str | None) -> datetime.date | None:
    try:
        return datetime.datetime.strptime(value or "", "%Y-%m").date()
    except ValueError:
        return None


def _months_before(month: datetime.date, count: int) -> datetime.date:
    index = month.year * 12 + month.month - 1 - count
    return datetime.date(index // 12, index % 12 + 1, 1)


@admin.register(PlanOrder)
class PlanOrderAdmin(MemberColumnMixin, ReadOnlyAdmin):
    """Orders partners made through the API; paid by the payment system's notices."""

    list_display = [
        "order_number",
        "member",
        "plan",
        "amount",
        "status",
        "partner",
        "created_at",
        "expires_at",
        "paid_at",
        "payment_ref",
    ]
    list_filter = ["status", "plan", "partner"]
    list_select_related = ["member", "plan", "partner"]
    search_fields = ["order_number"]
    search_help_text = _("Exact order number, payment reference or member number.")
    show_full_result_count = False
    paginator = LargeTablePaginator
    ordering = ["-id"]
    fields = [
        "order_number",
        "member",
        "plan",
        "amount",
        "currency",
        "status",
        "partner",
        "created_at",
        "expires_at",
        "paid_at",
        "payment_ref",
        "subscription",
        "cancelled_at",
        "cancel_reason",
    ]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        found = Q(order_number=term) | Q(payment_ref=term) | Q(member_id__in=member_ids(term))
        return queryset.filter(found), False
