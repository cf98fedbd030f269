"""Imports admin: file imports (upload, preview, confirm, progress, result) and import profiles
with a column mapper. An interface only; the pages are in ``members.imports.views`` and ``mapper_views``.

Runs are a read-only record: made by an upload, moved on by the confirm, cancel and resume
buttons, never edited or deleted here. Store staff see the runs they uploaded; operators all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from config.common.admin import LargeTablePaginator, ModelAdmin
from members.admin_helpers import HistoryAdmin
from members.imports import mapper_views, views
from members.imports.forms import STATUS_FIELDS, ProfileForm
from members.imports.legacy import LEGACY
from members.imports.mapping import STATUSES, field_label, fields_of
from members.imports.models import ImportProfile, ImportRun
from members.imports.selectors import import_runs_of
from members.selectors import sees_every_store, stores_of

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class StoreFilter(admin.SimpleListFilter):
    """The user's own stores only (staff do not learn the names of the others)."""

    title = _("store")
    parameter_name = "store"

    def lookups(self, request, model_admin):
        return [(store.pk, str(store)) for store in stores_of(request.user).only("code", "name")]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(store_id=value) if value and value.isdigit() else queryset


@admin.register(ImportRun)
class ImportRunAdmin(ModelAdmin):
    list_display = [
        "file_name",
        "profile",
        "store",
        "created_by",
        "created_at",
        "status_display",
        "rows_total",
        "rows_ok",
        "rows_duplicate",
        "rows_rejected",
        "rows_skipped",
    ]
    list_filter = ["status", ("profile", admin.RelatedOnlyFieldListFilter), StoreFilter, "created_at"]
    list_select_related = ["profile", "store", "created_by"]
    search_fields = ["file_name"]
    show_full_result_count = False
    paginator = LargeTablePaginator
    list_per_page = 50
    change_list_template = "admin/imports/run_list.html"

    def get_queryset(self, request):
        return import_runs_of(request.user, super().get_queryset(request))

    def has_add_permission(self, request) -> bool:
        return False  # a run is made by an upload (``upload_view``), not by a form

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, run: ImportRun) -> str:
        if run.status == ImportRun.Status.RUNNING:
            return f"{run.get_status_display()} {run.percent}%"
        return str(run.get_status_display())

    def changelist_view(self, request, extra_context=None):
        extra = {
            "upload_url": (
                reverse("admin:imports_importrun_upload")
                if request.user.has_perm("imports.import_file")
                else None
            ),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return views.run_view(request, self, object_id)

    def get_urls(self):
        def view(func, name: str, route: str):
            return path(route, self.admin_site.admin_view(func), name=f"imports_importrun_{name}")

        return [
            view(self.upload_view, "upload", "upload/"),
            view(self.progress_view, "progress", "<path:object_id>/progress/"),
            view(self.confirm_view, "confirm", "<path:object_id>/confirm/"),
            view(self.cancel_view, "cancel", "<path:object_id>/cancel/"),
            view(self.resume_view, "resume", "<path:object_id>/resume/"),
            view(self.rejected_view, "rejected", "<path:object_id>/rejected/"),
            view(self.rejected_csv_view, "rejected_csv", "<path:object_id>/rejected.csv"),
            view(self.report_view, "report", "<path:object_id>/report/"),
            *super().get_urls(),
        ]

    def upload_view(self, request):
        return views.upload_view(request, self)

    def progress_view(self, request, object_id):
        return views.progress_view(request, self, object_id)

    def confirm_view(self, request, object_id):
        return views.confirm_view(request, self, object_id)

    def cancel_view(self, request, object_id):
        return views.cancel_view(request, self, object_id)

    def resume_view(self, request, object_id):
        return views.resume_view(request, self, object_id)

    def rejected_view(self, request, object_id):
        return views.rejected_view(request, self, object_id)

    def rejected_csv_view(self, request, object_id):
        return views.rejected_csv_view(request, self, object_id)

    def report_view(self, request, object_id):
        return views.report_view(request, self, object_id)


STATUSES_HELP = format_lazy(
    "{} {}",
    _("Which words of the file's status column mean what."),
    _("A row of a status not listed is rejected; a file without a status column has only sales."),
)

#: Read-only pages show the JSON settings as words.
READABLE = {
    "member_match": "member_match_display",
    "store_codes": "store_codes_display",
    "date_formats": "date_formats_display",
}


def in_field_order(kind, found, order=None) -> list[str]:
    """Keys of ``found`` in the mapper's order (PostgreSQL's jsonb keeps keys in its own)."""
    order = list(order if order is not None else fields_of(kind))
    return sorted(found, key=lambda key: (order.index(key) if key in order else len(order), key))


def readable(fields: list[str]) -> list[str]:
    """A read-only page's fields: the JSON settings as words, all statuses on one line."""
    out = [READABLE.get(f, "statuses_display" if f in STATUS_FIELDS else f) for f in fields]
    return list(dict.fromkeys(out))


@admin.register(ImportProfile)
class ImportProfileAdmin(HistoryAdmin):
    form = ProfileForm
    list_display = ["display_name", "code", "kind", "channel", "source", "builtin", "active"]
    list_filter = ["kind", "channel", "active", "builtin"]
    search_fields = ["name", "code"]
    change_form_template = "admin/imports/profile_change_form.html"
    readonly_fields = ["kind", "builtin", "display_name", "columns_display", "statuses_display"]
    readonly_fields += READABLE.values()

    def get_fieldsets(self, request, obj=None):
        purchases = obj is None or obj.kind == ImportProfile.Kind.PURCHASES
        fieldsets: list[tuple[StrOrPromise | None, dict[str, Any]]] = [
            (None, {"fields": ["name", "code", "kind", "source", "channel", "active", "builtin"]}),
            (
                _("Reading the file"),
                {"fields": ["file_format", "encoding", "delimiter", "date_formats"]},
            ),
            (_("Columns"), {"fields": ["columns_display"]}),
        ]
        if purchases:
            fieldsets.append(
                (
                    _("Statuses"),
                    {
                        "fields": STATUS_FIELDS,
                        "description": STATUSES_HELP,
                    },
                )
            )
        members = ["member_match", *(["unknown_member", "reject_invalid_mobile"] if purchases else [])]
        if obj is None or obj.kind not in LEGACY:  # an old CRM's rows name members one way
            fieldsets.append((_("Members"), {"fields": members}))
        if purchases:
            # The store code mapping names every store: not for staff, who see only their own.
            stores = ["store_codes"] if sees_every_store(request.user) else []
            fieldsets.append((_("Amounts and stores"), {"fields": ["gross_includes_shipping", *stores]}))
            fieldsets.append((_("Points"), {"fields": ["earns"]}))
            fieldsets.append((_("Returns"), {"fields": ["return_match_days"]}))
        if obj is not None and not self.has_change_permission(request, obj):
            fieldsets = [(name, {**opts, "fields": readable(opts["fields"])}) for name, opts in fieldsets]
        if obj is not None and obj.builtin and str(obj) != obj.name:
            # a shipped profile not renamed: its name in the reader's language
            first = fieldsets[0][1]
            first["fields"] = ["display_name" if f == "name" else f for f in first["fields"]]
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is not None and obj.builtin:
            fields.append("code")  # the shipped layout is found by its code
        return fields

    def has_view_history_permission(self, request, obj=None) -> bool:
        # past versions hold the store code mapping, which names every store: not for staff
        return sees_every_store(request.user) and super().has_view_history_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.builtin:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # it would take the shipped profiles too
        return actions

    def add_view(self, request, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:imports_importprofile_map"))

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("map/", wrap(self.mapper_view), name="imports_importprofile_map"),
            path("<path:object_id>/map/", wrap(self.mapper_view), name="imports_importprofile_remap"),
            *super().get_urls(),
        ]

    def mapper_view(self, request, object_id=None):
        return mapper_views.mapper_view(request, self, object_id)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and self.has_change_permission(request, obj):
            context["remap_url"] = reverse("admin:imports_importprofile_remap", args=[obj.pk])
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description=_("name"), ordering="name")
    def display_name(self, profile: ImportProfile) -> str:
        return str(profile)

    # --- the JSON settings as words ------------------------------------------------------
    @admin.display(description=_("columns"))
    def columns_display(self, profile: ImportProfile) -> str:
        if not profile.columns:
            return "-"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{}: {}</li>",
                (
                    (field_label(profile.kind, field), " / ".join(profile.columns[field]))
                    for field in in_field_order(profile.kind, profile.columns)
                ),
            ),
        )

    @admin.display(description=_("statuses"))
    def statuses_display(self, profile: ImportProfile) -> str:
        by_status: dict[str, list[str]] = {}
        for text, status in profile.statuses.items():
            by_status.setdefault(status, []).append(text)
        if not by_status:
            return "-"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{}: {}</li>",
                (
                    (STATUSES.get(status, status), ", ".join(by_status[status]))
                    for status in in_field_order(None, by_status, STATUSES)
                ),
            ),
        )

    @admin.display(description=_("match members by"))
    def member_match_display(self, profile: ImportProfile) -> str:
        return (
            ", ".join(field_label(ImportProfile.Kind.PURCHASES, name) for name in profile.member_match) or "-"
        )

    @admin.display(description=_("store codes"))
    def store_codes_display(self, profile: ImportProfile) -> str:
        return ", ".join(f"{theirs}={ours}" for theirs, ours in profile.store_codes.items()) or "-"

    @admin.display(description=_("date formats"))
    def date_formats_display(self, profile: ImportProfile) -> str:
        return ", ".join(profile.date_formats) or "-"
