"""Template helpers of the insight pages: KPI values and their change, and the dashboard on the
admin's first page."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse
from django.utils.translation import gettext as _

from config.common.formats import money, percent, whole

register = template.Library()


@register.filter
def get_item(mapping: dict, key: Any) -> Any:
    return mapping.get(key)


@register.filter
def kpi_value(kpi: Any) -> str:
    if kpi.value is None:
        return "—"
    if kpi.unit == "percent":
        return percent(kpi.value)
    if kpi.unit == "cny":
        return "¥" + money(kpi.value)
    return whole(kpi.value)


@register.filter
def kpi_change(kpi: Any) -> str:
    """ "▲ 12.0% vs previous" (percentage points for shares); nothing to compare: say so."""
    delta = kpi.change
    if delta is None:
        return _("no previous figure")
    arrow = "▲" if delta > 0 else "▼" if delta < 0 else "="
    if kpi.unit == "percent":
        text = _("%(arrow)s %(points)s pts vs previous") % {
            "arrow": arrow,
            "points": f"{abs(delta) * 100:.1f}",
        }
    else:
        text = _("%(arrow)s %(change)s vs previous") % {"arrow": arrow, "change": percent(abs(delta))}
    return text


@register.filter(name="whole")
def whole_filter(value: Any) -> str:
    return whole(value)


@register.filter
def cny(value: Any) -> str:
    return money(value)


@register.filter
def share(value: Any) -> str:
    return "—" if value is None else percent(value)


@register.inclusion_tag("admin/insight/_index_dashboard.html", takes_context=True)
def index_dashboard(context: Any) -> dict[str, Any]:
    """The dashboard on the admin's first page, for the roles that may see it."""
    from campaigns.insight.admin import dashboard_context, may_open, tabs

    request = context["request"]
    if not may_open(request.user, "dashboard"):
        return {"show": False}
    return {
        "show": True,
        "request": request,
        "tabs": tabs(request.user, "dashboard"),
        "filter_action": reverse("admin:insight_dashboard"),
        **dashboard_context(request),
    }


@register.filter
def kpi_tone(kpi: Any) -> str:
    """ "good" or "bad" news, for the colour of the change (a rise in cost is bad news)."""
    delta = kpi.change
    if not delta:
        return ""
    return "good" if (delta > 0) == kpi.up_is_good else "bad"
