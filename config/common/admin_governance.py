"""Maker-checker in the admin: governed pages save drafts; the programme changes page decides them."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Field, QuerySet
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from unfold.widgets import UnfoldAdminSplitDateTimeWidget, UnfoldAdminTextInputWidget

from config.common.admin import ModelAdmin, ReadOnlyAdmin, run_each
from config.common.errors import BusinessRuleError
from config.common.governance import (
    APPROVE_PERMISSION,
    GOVERNED,
    config_change_approve,
    config_change_propose,
    config_change_reject,
    display,
    governed,
)
from config.common.models import ConfigChange

APPROVAL_FIELDS = ["effective_from", "change_note"]


def governed_sets(model, data: dict) -> list[str]:
    """The governed many-to-many fields of ``model`` that a form's ``data`` carries."""
    rules = governed(model)
    assert rules is not None
    return [f.name for f in model._meta.many_to_many if f.name in rules.fields and f.name in data]


class GovernedAdmin(ModelAdmin):
    """A programme setting's page: saving a change to its governed fields (adding or deleting a
    row) makes a change for another person to approve; other fields save at once. Put it first
    among the bases, so that its ``save_model`` decides before the page's own."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        # declared on the form the admin builds from, so that the fieldsets may name them
        extra = {
            "effective_from": forms.SplitDateTimeField(
                label=gettext_lazy("effective from"),
                required=False,
                widget=UnfoldAdminSplitDateTimeWidget,
                help_text=gettext_lazy("Empty: as soon as another person approves it."),
            ),
            "change_note": forms.CharField(
                label=gettext_lazy("why"),
                required=False,
                max_length=300,
                widget=UnfoldAdminTextInputWidget,
                help_text=gettext_lazy("For the approver: what the change is for."),
            ),
        }
        kwargs.setdefault("form", type(self.form.__name__, (self.form,), extra))
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if self.has_change_permission(request, obj) or (obj is None and self.has_add_permission(request)):
            fieldsets.append((gettext_lazy("Approval"), {"fields": APPROVAL_FIELDS}))
        return fieldsets

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # a deletion waits for approval, one row at a time
        return actions

    def _propose(self, request, obj, form, *, data: dict | None = None, **kwargs: Any) -> None:
        """A change of ``obj`` (this page's row, or an inline's: ``data`` its form's values), with
        the page's "effective from" and note."""
        page = form.cleaned_data if form is not None else {}
        data = page if data is None else data
        sets = {name: [row.pk for row in data[name]] for name in governed_sets(type(obj), data)}
        changes = request.__dict__.setdefault("_config_changes", [])
        changes.append(
            config_change_propose(
                instance=obj,
                actor=request.user,
                effective_from=page.get("effective_from"),
                note=page.get("change_note") or "",
                sets=sets,
                **kwargs,
            )
        )

    def save_model(self, request, obj, form, change: bool) -> None:
        rules = governed(self.model)
        assert rules is not None, f"{self.model.__name__} is not governed"
        if not change:
            self._propose(request, obj, form, action=ConfigChange.Action.CREATE)
            return
        held = [name for name in form.changed_data if name in rules.fields]
        free = [
            name for name in form.changed_data if name not in rules.fields and name not in APPROVAL_FIELDS
        ]
        if held:
            self._propose(request, obj, form, fields=held)
        if free:
            # the rest saves now, the governed fields as they are until the change is approved
            current = self.model._default_manager.get(pk=obj.pk)
            for name in held:
                field = self.model._meta.get_field(name)
                setattr(obj, field.attname, getattr(current, field.attname))
            super().save_model(request, obj, form, change)
        elif not held:
            messages.info(request, _("Nothing was changed."))

    def save_related(self, request, form, formsets, change: bool) -> None:
        if form.instance.pk is None:
            return  # a new row is a draft: its inlines come with it when it exists
        for name in governed_sets(self.model, form.cleaned_data):
            # kept as saved: the proposed set is in the change, waiting for approval
            form.cleaned_data[name] = list(getattr(form.instance, name).all())
        super().save_related(request, form, formsets, change)

    def save_formset(self, request, form, formset, change: bool) -> None:
        """An inline of governed rows (a tier's benefits) proposes its additions, changes and
        deletions like the page's own fields; other inlines save."""
        rules = governed(formset.model)
        if rules is None:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)  # fills new_objects, changed_objects and deleted_objects
        data = {id(f.instance): f.cleaned_data for f in formset.forms if hasattr(f, "cleaned_data")}
        for obj in formset.deleted_objects:
            self._propose(request, obj, form, data={}, action=ConfigChange.Action.DELETE)
        for obj, names in formset.changed_objects:
            if held := [name for name in names if name in rules.fields]:
                self._propose(request, obj, form, data=data.get(id(obj), {}), fields=held)
        for obj in formset.new_objects:
            self._propose(request, obj, form, data=data.get(id(obj), {}), action=ConfigChange.Action.CREATE)
        return None

    def delete_model(self, request, obj) -> None:
        self._propose(request, obj, None, action=ConfigChange.Action.DELETE)

    def log_addition(self, request, obj, message):
        if not getattr(request, "_config_changes", None):
            return super().log_addition(request, obj, message)
        return None  # the change's own row says who made it

    def log_change(self, request, obj, message):
        if not getattr(request, "_config_changes", None):
            return super().log_change(request, obj, message)
        return None

    def log_deletions(self, request, queryset):
        if not getattr(request, "_config_changes", None):
            return super().log_deletions(request, queryset)
        return None

    def _to_change(self, request) -> HttpResponseRedirect:
        changes: list[ConfigChange] = request._config_changes
        numbers = ", ".join(f"#{change.pk}" for change in changes)
        messages.success(
            request,
            _("Saved for approval (change %(numbers)s): it takes effect when another person approves it.")
            % {"numbers": numbers},
        )
        if not request.user.has_perm("common.view_configchange"):
            return HttpResponseRedirect(
                reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
            )
        if len(changes) == 1:
            return HttpResponseRedirect(
                reverse("admin:common_configchange_change", args=[quote(changes[0].pk)])
            )
        waiting = f"?status__exact={ConfigChange.Status.SUBMITTED}"
        return HttpResponseRedirect(reverse("admin:common_configchange_changelist") + waiting)

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(request, "_config_changes", None):
            return self._to_change(request)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if getattr(request, "_config_changes", None):
            return self._to_change(request)
        return super().response_change(request, obj)

    def response_delete(self, request, obj_display, obj_id):
        if getattr(request, "_config_changes", None):
            return self._to_change(request)
        return super().response_delete(request, obj_display, obj_id)


class KindFilter(admin.SimpleListFilter):
    """The kinds of setting under maker-checker, by their names (not every content type)."""

    title = gettext_lazy("kind of setting")
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        types = ContentType.objects.get_for_models(*GOVERNED)
        return sorted(
            ((str(ct.pk), capfirst(model._meta.verbose_name)) for model, ct in types.items()),
            key=lambda pair: str(pair[1]),
        )

    def queryset(self, request, queryset):
        return queryset.filter(content_type_id=self.value()) if (self.value() or "").isdigit() else queryset


@admin.register(ConfigChange)
class ConfigChangeAdmin(ReadOnlyAdmin):
    """Changes to the programme's settings: the approvers' queue, and the record of every change."""

    list_display = [
        "number",
        "kind",
        "object_repr",
        "action",
        "status",
        "made_by",
        "made_at",
        "effective_from",
        "decided_by",
    ]
    list_filter = ["status", "action", KindFilter]
    list_select_related = ["content_type", "made_by", "decided_by"]
    search_fields = ["object_repr"]
    actions = ["approve", "reject"]
    fields = readonly_fields = [
        "kind",
        "object_repr",
        "action",
        "status",
        "diff",
        "decision",
        "note",
        "made_by",
        "made_at",
        "effective_from",
        "decided_by",
        "decided_at",
        "effective_at",
        "failure",
    ]

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm(APPROVE_PERMISSION):
            actions.pop("approve", None)
        return actions

    def get_urls(self):
        decide = path(
            "<path:object_id>/decide/",
            self.admin_site.admin_view(self.decide_view),
            name="common_configchange_decide",
        )
        return [decide, *super().get_urls()]

    def render_change_form(self, request, context, *args, **kwargs):
        self._user = request.user  # the decision buttons show what this user may do
        return super().render_change_form(request, context, *args, **kwargs)

    @admin.display(description=gettext_lazy("decision"))
    def decision(self, change: ConfigChange) -> str:
        user = getattr(self, "_user", None)
        if user is None:
            return "—"
        buttons = []
        waiting = change.status == ConfigChange.Status.SUBMITTED
        if waiting and user.pk != change.made_by_id and user.has_perm(APPROVE_PERMISSION):
            buttons.append(("approve", _("Approve"), "bg-primary-600 text-white"))
        if change.status in (ConfigChange.Status.SUBMITTED, ConfigChange.Status.SCHEDULED):
            if user.pk == change.made_by_id:
                buttons.append(("reject", _("Withdraw"), "border"))
            elif user.has_perm(APPROVE_PERMISSION):
                buttons.append(("reject", _("Reject"), "border"))
        if not buttons:
            return "—"
        url = reverse("admin:common_configchange_decide", args=[change.pk])
        return format_html_join(
            " ",
            "<button type='submit' formaction='{}' formnovalidate name='decision' value='{}' "
            "class='px-3 py-2 rounded-default font-medium {}'>{}</button>",
            ((url, value, css, label) for value, label, css in buttons),
        )

    def decide_view(self, request, object_id: str) -> HttpResponse:
        """The change page's buttons: approve, reject or withdraw, then back to the change."""
        change = self.get_object(request, object_id)
        if change is None:
            raise Http404
        if not self.has_view_permission(request, change):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        approving = request.POST.get("decision") == "approve"
        try:
            if approving:
                config_change_approve(change=change, actor=request.user)
            else:
                config_change_reject(change=change, actor=request.user)
        except (ValidationError, BusinessRuleError) as exc:
            messages.error(
                request, " ".join(exc.messages) if isinstance(exc, ValidationError) else exc.message
            )
        else:
            change.refresh_from_db()
            self.log_change(
                request, change, _("Approved the change.") if approving else _("Rejected the change.")
            )
            messages.success(
                request,
                _("Change #%(number)s: %(status)s.")
                % {"number": change.pk, "status": change.get_status_display()},
            )
        return HttpResponseRedirect(reverse("admin:common_configchange_change", args=[change.pk]))

    @admin.display(description=gettext_lazy("number"), ordering="id")
    def number(self, change: ConfigChange) -> str:
        return f"#{change.pk}"

    @admin.display(description=gettext_lazy("kind of setting"))
    def kind(self, change: ConfigChange) -> str:
        model = change.content_type.model_class()
        return str(model._meta.verbose_name) if model is not None else change.content_type.model

    @admin.display(description=gettext_lazy("what changes"))
    def diff(self, change: ConfigChange) -> str:
        model = change.content_type.model_class()
        if model is None:
            return "—"
        rows = []
        for item in change.changes:
            field = cast(Field, model._meta.get_field(item["field"]))
            before = display(field, item["before"]) if "before" in item else ""
            after = display(field, item["after"]) if "after" in item else ""
            if change.action == ConfigChange.Action.CREATE and item.get("after") in (None, "", []):
                continue  # a new row: only what it sets
            rows.append((field.verbose_name, before, after))
        return format_html(
            "<table class='loyalty-table' style='border-collapse:separate;border-spacing:16px 4px'>"
            "<thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            _("field"),
            _("before"),
            _("after"),
            format_html_join(
                "", "<tr><td>{}</td><td><del>{}</del></td><td><strong>{}</strong></td></tr>", rows
            ),
        )

    @admin.action(description=gettext_lazy("Approve the selected changes"))
    def approve(self, request, queryset: QuerySet[ConfigChange]) -> None:
        run_each(
            request,
            queryset,
            lambda change: config_change_approve(change=change, actor=request.user),
            gettext_lazy("%(count)d changes approved."),
            log=lambda change: self.log_change(request, change, _("Approved the change.")),
        )

    @admin.action(description=gettext_lazy("Reject (or withdraw your own)"))
    def reject(self, request, queryset: QuerySet[ConfigChange]) -> None:
        run_each(
            request,
            queryset,
            lambda change: config_change_reject(change=change, actor=request.user),
            gettext_lazy("%(count)d changes rejected or withdrawn."),
            log=lambda change: self.log_change(request, change, _("Rejected the change.")),
        )
