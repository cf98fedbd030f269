"""The insight pages in the admin: the dashboard, RFM, the finance roll-forward, and the settings.

Pages hang off the settings' admin (``/admin/insight/insightsettings/<page>/``) so the admin
walks visit them like every other page. Each page reads a selector and renders charts (drawn by
``insight/charts.js`` with the project's own copy of ECharts) with their numbers under them and
a CSV of each chart (``?csv=<chart>``).
"""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.insight import dashboard as board
from campaigns.insight.charts import Chart, chart_table
from campaigns.insight.finance import breakage_rates, roll_forward, roll_forward_tables
from campaigns.insight.forms import FilterForm, MonthsForm, SaveSegmentForm
from campaigns.insight.models import InsightSettings, StoreSalesDay
from campaigns.insight.pages.behaviour import behaviour_page
from campaigns.insight.pages.campaigns import campaigns_page
from campaigns.insight.pages.members import members_page
from campaigns.insight.pages.points import points_page
from campaigns.insight.pages.rfm import rfm_page
from campaigns.insight.pages.stores import stores_page
from campaigns.insight.pages.tiers import tiers_page
from campaigns.insight.tables import Table, download
from campaigns.segments.services import segment_static_create
from members.admin_helpers import HistoryAdmin, SettingsAdmin
from members.scoring.models import MemberScore
from members.selectors import members_visible_to, sees_every_store, stores_of

#: The pages, in the order of their tabs: (url name suffix, title, permission needed)
PROGRAMME = ("insight.view_programme",)
STORES = ("insight.view_programme", "insight.view_store")
PAGES = [
    ("dashboard", _("Programme dashboard"), STORES),
    ("members", _("Members"), STORES),
    ("rfm", _("RFM segments"), PROGRAMME),
    ("points", _("Points"), PROGRAMME),
    ("behaviour", _("Behaviour"), STORES),
    ("tiers", _("Tiers and benefits"), PROGRAMME),
    ("campaigns", _("Campaigns"), PROGRAMME),
    ("stores", _("Stores"), STORES),
    ("finance", _("Points roll-forward"), ("insight.view_finance",)),
]

#: The analysis pages with the filter bar: (page, selector taking the query, template)
FILTERED = {
    "members": (members_page, "members.html"),
    "points": (points_page, "points.html"),
    "behaviour": (behaviour_page, "behaviour.html"),
    "tiers": (tiers_page, "tiers.html"),
    "stores": (stores_page, "stores.html"),
}


def may_open(user: Any, page: str) -> bool:
    perms = next(p for name, _t, p in PAGES if name == page)
    return any(user.has_perm(perm) for perm in perms)


def tabs(user: Any, current: str) -> list[dict[str, Any]]:
    return [
        {"url": reverse(f"admin:insight_{name}"), "title": title, "current": name == current}
        for name, title, _p in PAGES
        if may_open(user, name)
    ]


def filter_form(request: HttpRequest) -> FilterForm:
    user: Any = request.user  # a signed-in staff user: admin_view lets no one else in
    every = sees_every_store(user) and user.has_perm("insight.view_programme")
    return FilterForm(request.GET or None, stores=stores_of(user), every_store=every)


def dashboard_context(request: HttpRequest) -> dict[str, Any]:
    """What the dashboard shows (also on the admin's first page)."""
    form = filter_form(request)
    query = form.query()
    data = board.fetch(query)
    charts = board.charts(data)
    settings = InsightSettings.current()
    return {
        "form": form,
        "query": query,
        "kpis": board.kpis(data, settings),
        "charts": charts,
        "chart_specs": [c.spec() for c in charts],
        "chart_tables": {c.key: chart_table(c) for c in charts},
        "fresh": board.freshness(),
        "target": settings.cost_target_percent,
    }


@admin.register(InsightSettings)
class InsightSettingsAdmin(SettingsAdmin):
    fields = ["cost_target_percent"]

    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        return [
            path("dashboard/", view(self.dashboard_view), name="insight_dashboard"),
            path("rfm/", view(self.rfm_view), name="insight_rfm"),
            path("rfm/save/", view(self.rfm_save_view), name="insight_rfm_save"),
            path("campaigns/", view(self.campaigns_view), name="insight_campaigns"),
            *(
                path(f"{page}/", view(self.filtered_view), {"page": page}, name=f"insight_{page}")
                for page in FILTERED
            ),
            path("finance/", view(self.finance_view), name="insight_finance"),
            *super().get_urls(),
        ]

    def _page(self, request: HttpRequest, page: str, template: str, context: dict[str, Any]) -> HttpResponse:
        title = next(t for name, t, _p in PAGES if name == page)
        return TemplateResponse(
            request,
            f"admin/insight/{template}",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "tabs": tabs(request.user, page),
                **context,
            },
        )

    def _csv(self, request: HttpRequest, tables: dict[str, Table]) -> HttpResponse | None:
        key = request.GET.get("csv")
        if key is None:
            return None
        if key not in tables:
            raise Http404(_("No such chart."))
        return download([tables[key]], "csv", key)

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        if not may_open(request.user, "dashboard"):
            raise PermissionDenied
        context = dashboard_context(request)
        return self._csv(request, context["chart_tables"]) or self._page(
            request, "dashboard", "dashboard.html", context
        )

    def filtered_view(self, request: HttpRequest, page: str) -> HttpResponse:
        if not may_open(request.user, page):
            raise PermissionDenied
        selector, template = FILTERED[page]
        form = filter_form(request)
        query = form.query()
        context = {"form": form, "query": query, **selector(query)}
        context["chart_specs"] = [c.spec() for c in context["charts"]]
        context["chart_tables"] = {c.key: chart_table(c) for c in context["charts"]}
        return self._csv(request, context["chart_tables"]) or self._page(request, page, template, context)

    def campaigns_view(self, request: HttpRequest) -> HttpResponse:
        if not may_open(request.user, "campaigns"):
            raise PermissionDenied
        context = campaigns_page()
        context["chart_specs"] = [c.spec() for c in context["charts"]]
        context["chart_tables"] = {c.key: chart_table(c) for c in context["charts"]}
        if request.GET.get("format") in ("csv", "xlsx"):
            return download(context["tables"], request.GET["format"], "campaigns")
        return self._csv(request, context["chart_tables"]) or self._page(
            request, "campaigns", "campaigns.html", context
        )

    def rfm_view(self, request: HttpRequest) -> HttpResponse:
        if not may_open(request.user, "rfm"):
            raise PermissionDenied
        context = rfm_page()
        if request.user.has_perm("segments.add_segment"):
            today = timezone.localdate()
            context["save_url"] = reverse("admin:insight_rfm_save")
            for row in context["segments"]:
                row["save_name"] = f"RFM {row['segment'].label} {today:%Y-%m-%d}"[:60]
        return self._csv(request, context["chart_tables"]) or self._page(request, "rfm", "rfm.html", context)

    def rfm_save_view(self, request: HttpRequest) -> HttpResponse:
        """POST: the members an RFM segment's list shows (every page of it, those the user may see)
        saved as a static segment, by ``segment_static_create``; then its page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not may_open(request.user, "rfm") or not request.user.has_perm("segments.add_segment"):
            raise PermissionDenied
        user: Any = request.user  # a signed-in staff user: admin_view lets no one else in
        form = SaveSegmentForm(request.POST)
        if form.is_valid():
            scored = MemberScore.objects.filter(member=OuterRef("pk"), segment=form.cleaned_data["rfm"])
            members = members_visible_to(user).filter(Exists(scored))
            try:
                segment = segment_static_create(
                    name=form.cleaned_data["name"], members=members, actor=request.user
                )
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            else:
                messages.success(
                    request,
                    _("Saved “%(name)s”: a static segment of %(count)s members.")
                    % {"name": segment.name, "count": f"{segment.member_count or 0:,}"},
                )
                return HttpResponseRedirect(reverse("admin:segments_segment_change", args=[segment.pk]))
        else:
            messages.error(request, " ".join(str(m) for errors in form.errors.values() for m in errors))
        return HttpResponseRedirect(reverse("admin:insight_rfm"))

    def finance_view(self, request: HttpRequest) -> HttpResponse:
        if not may_open(request.user, "finance"):
            raise PermissionDenied
        last = _month_param(request.GET.get("to")) or timezone.localdate().replace(day=1)
        first = _month_param(request.GET.get("from")) or (last - datetime.timedelta(days=335)).replace(day=1)
        if first > last:
            first, last = last, first
        first = max(first, (last - datetime.timedelta(days=31 * (MAX_MONTHS - 1))).replace(day=1))
        rows = roll_forward(first, last)
        tables = roll_forward_tables(rows, breakage_rates(last))
        fmt = request.GET.get("format")
        if fmt in ("csv", "xlsx"):
            return download(tables, fmt, "points-roll-forward")
        chart = Chart(
            "closing",
            _("Closing balance by month"),
            "line",
            sorted({f"{r.month:%Y-%m}" for r in rows}),
            [
                {"name": pt, "data": [r.closing for r in rows if r.point_type.name == pt], "type": "line"}
                for pt in dict.fromkeys(r.point_type.name for r in rows)
            ],
            board.POINTS,
        )
        return self._page(
            request,
            "finance",
            "finance.html",
            {
                "tables": tables,
                "form": MonthsForm({"from": f"{first:%Y-%m}", "to": f"{last:%Y-%m}"}),
                "first": f"{first:%Y-%m}",
                "last": f"{last:%Y-%m}",
                "chart_specs": [chart.spec()],
                "charts": [chart],
                "chart_tables": {chart.key: chart_table(chart)},
            },
        )


#: The longest roll-forward a page shows (and downloads): ten years of months.
MAX_MONTHS = 120


def _month_param(value: str | None) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(f"{value}-01") if value else None
    except ValueError:
        return None


@admin.register(StoreSalesDay)
class StoreSalesDayAdmin(HistoryAdmin):
    list_display = ["day", "store", "orders", "sales"]
    list_filter = ["store"]
    date_hierarchy = "day"
    ordering = ["-day", "store__code"]
    list_select_related = ["store"]
    autocomplete_fields = ["store"]
