"""Segments in the admin: conditions as rows of selects and numbers (no JSON), and a live count
with a preview of the members while the operator edits (``count_view``: the form as it stands,
evaluated, nothing saved)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import OperationalError, connection, transaction
from django.http import JsonResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.segments.forms import ConditionForm, field_inputs
from campaigns.segments.models import Condition, Segment, TagRule
from campaigns.segments.selectors import conditions_members, segment_members
from campaigns.segments.services import segment_count, tag_rule_apply
from config.common.admin import TabularInline, run_each
from members.admin_helpers import HistoryAdmin, member_label
from members.models import Member
from tiers.models import Tier

PREVIEW_ROWS = 20
COUNT_TIMEOUT_MS = 30_000


class ConditionInline(TabularInline):
    model = Condition
    form = ConditionForm
    extra = 0
    min_num = 0
    autocomplete_fields = ["store", "tag"]
    fields = ["group", "field", "operator", "choice", "number", "days", "tier", "store", "tag", "text"]


class AuthoredAdmin(HistoryAdmin):
    """Records who created the row (``created_by``)."""

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Segment)
class SegmentAdmin(AuthoredAdmin):
    list_display = ["name", "kind", "member_count", "counted_at", "created_by"]
    list_filter = ["kind"]
    search_fields = ["name"]
    search_help_text = gettext_lazy("Part of the name.")
    fields = ["name", "description", "kind", "groups_logic", "conditions_logic"]
    readonly_fields = ["member_count", "counted_at", "created_by"]
    inlines = [ConditionInline]
    change_form_template = "admin/segments/segment/change_form.html"

    def get_fields(self, request, obj=None):
        return [*self.fields, *(self.readonly_fields if obj else [])]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by")

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        segment_count(form.instance)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["field_inputs"] = field_inputs()
        context["count_url"] = reverse(
            "admin:segments_segment_count", args=[obj.pk] if obj else [], current_app=self.admin_site.name
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("count/", view(self.count_view), name="segments_segment_count"),
            path("<path:object_id>/count/", view(self.count_view), name="segments_segment_count"),
            *super().get_urls(),
        ]

    def count_view(self, request, object_id: str | None = None) -> JsonResponse:
        """POST: the page's form as it stands → {count, members, error}. Saves nothing."""
        obj = self.get_object(request, object_id) if object_id else None
        if request.method != "POST" or not (
            self.has_change_permission(request, obj) if obj else self.has_add_permission(request)
        ):
            raise PermissionDenied
        form = self.get_form(request, obj, change=obj is not None)(request.POST, instance=obj or Segment())
        form.is_valid()  # logic fields only are read; a clash of names does not stop a count
        formsets, _inlines = self._create_formsets(request, form.instance, change=obj is not None)
        conditions: list[Condition] = []
        for formset in formsets:
            if not formset.is_valid():
                return JsonResponse({"error": _row_error(formset)})
            conditions += [
                f.instance for f in formset.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")
            ]
        data = form.cleaned_data if hasattr(form, "cleaned_data") else {}
        kind = data.get("kind") or Segment.Kind.DYNAMIC
        now = timezone.now()
        if kind == Segment.Kind.STATIC:
            members = segment_members(obj, now=now) if obj else Member.objects.none()
        else:
            members = conditions_members(
                conditions,
                groups_logic=data.get("groups_logic") or "all",
                conditions_logic=data.get("conditions_logic") or "all",
                now=now,
            )
        sample = members.select_related("tier_status__tier").order_by("-pk")[:PREVIEW_ROWS]
        entry = Tier.objects.filter(rank=0).values_list("name", flat=True).first() or ""
        try:
            with transaction.atomic():
                if connection.vendor == "postgresql":
                    # an operator typing must not pile up counts on the database: each gets this long
                    connection.cursor().execute(f"SET LOCAL statement_timeout = {COUNT_TIMEOUT_MS}")
                count = members.count()
                rows = [_preview_row(m, request.user, entry) for m in sample]
        except OperationalError:
            return JsonResponse(
                {"error": _("Counting took too long: save the segment, and its list shows the count.")}
            )
        return JsonResponse({"count": count, "members": rows})


def _row_error(formset: Any) -> str:
    for number, errors in enumerate(formset.errors, start=1):
        for field, messages in errors.items():  # the first problem: the page marks the rest
            label = formset.form.base_fields[field].label if field in formset.form.base_fields else ""
            return _("Condition %(row)s, %(field)s: %(error)s") % {
                "row": number,
                "field": label,
                "error": " ".join(messages),
            }
    return " ".join(formset.non_form_errors())


def _preview_row(member: Member, user: Any, entry_tier: str) -> dict[str, str]:
    status = getattr(member, "tier_status", None)
    return {
        "member": member_label(member, user),
        "tier": status.tier.name if status else entry_tier,
        "city": member.city,
        "joined": f"{timezone.localtime(member.created_at):%Y-%m-%d}",
    }


@admin.register(TagRule)
class TagRuleAdmin(AuthoredAdmin):
    """Bulk tagging: a rule over a segment (a list of members, or conditions) tags them nightly,
    or now with the action."""

    list_display = ["tag", "segment", "is_active", "last_run_at", "last_added", "last_removed"]
    actions = ["apply_now"]
    list_filter = ["is_active"]
    autocomplete_fields = ["tag", "segment"]
    readonly_fields = ["last_run_at", "last_added", "last_removed", "created_by"]

    def get_fields(self, request, obj=None):
        return ["tag", "segment", "is_active", *(self.readonly_fields if obj else [])]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("tag", "segment")

    @admin.action(description=gettext_lazy("Apply the selected rules now"), permissions=["change"])
    def apply_now(self, request, queryset):
        def apply(rule: TagRule) -> None:
            added, removed = tag_rule_apply(rule)
            self.log_change(
                request,
                rule,
                _("Applied: %(added)d tagged, %(removed)d untagged") % {"added": added, "removed": removed},
            )

        run_each(
            request,
            queryset.select_related("tag", "segment"),
            apply,
            gettext_lazy("%(count)d rules applied."),
        )
