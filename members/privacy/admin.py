"""PIPL in the admin: erasure requests (ask, approve), retention settings, the access log."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.utils.html import format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.common.admin import ReadOnlyAdmin, ServiceAdmin, ServiceForm, run_each
from config.common.validation import FieldErrors
from members.admin_helpers import MemberColumnMixin, SettingsAdmin
from members.privacy.models import AccessLog, ErasureRequest, PrivacySettings
from members.privacy.services import ERASED_LABELS, erasure_approve, erasure_reject, erasure_request
from members.selectors import member_numbered


class ErasureForm(ServiceForm):
    member_number = forms.CharField(label=gettext_lazy("Member number"), max_length=16)

    class Meta:
        model = ErasureRequest
        fields = ["reason"]


@admin.register(ErasureRequest)
class ErasureRequestAdmin(MemberColumnMixin, ServiceAdmin):
    """Erasures asked for and done: a second person approves, then the data is gone for good."""

    form = ErasureForm
    list_display = ["requested_at", "member", "status", "reason", "requested_by", "decided_by"]
    list_filter = ["status"]
    list_select_related = ["member", "requested_by", "decided_by"]
    search_fields = ["=member__member_number"]
    search_help_text = gettext_lazy("Member number.")
    actions = ["approve", "reject"]
    readonly_fields = [
        "member_masked",
        "status",
        "reason",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
        "erased_table",
    ]

    def get_fields(self, request, obj=None):
        return ["member_number", "reason"] if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def render_change_form(self, request, context, *args, **kwargs):
        # asked once: no "save and add another" or "save and continue editing"
        context.update(show_save_and_add_another=False, show_save_and_continue=False)
        return super().render_change_form(request, context, *args, **kwargs)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_by_service(self, request, form, obj, change: bool) -> Any:
        errors = FieldErrors()
        member = member_numbered(form.cleaned_data["member_number"], errors, "member_number")
        errors.raise_if_any()
        assert member is not None
        return erasure_request(member=member, reason=form.cleaned_data["reason"], actor=request.user)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("privacy.approve_erasurerequest"):
            actions.pop("approve", None)
            actions.pop("reject", None)
        return actions

    @admin.action(description=gettext_lazy("Approve: erase the members' personal data now"))
    def approve(self, request, queryset: QuerySet[ErasureRequest]) -> None:
        run_each(
            request,
            queryset,
            lambda erasure: erasure_approve(request=erasure, actor=request.user),
            gettext_lazy("%(count)d members' personal data erased."),
            log=lambda erasure: self.log_change(request, erasure, _("Approved the erasure.")),
        )

    @admin.action(description=gettext_lazy("Reject the selected erasures"))
    def reject(self, request, queryset: QuerySet[ErasureRequest]) -> None:
        run_each(
            request,
            queryset,
            lambda erasure: erasure_reject(request=erasure, actor=request.user),
            gettext_lazy("%(count)d erasures rejected."),
            log=lambda erasure: self.log_change(request, erasure, _("Rejected the erasure.")),
        )

    @admin.display(description=gettext_lazy("member"))
    def member_masked(self, obj: ErasureRequest) -> str:
        return str(obj.member)

    @admin.display(description=gettext_lazy("what was erased"))
    def erased_table(self, obj: ErasureRequest) -> str:
        if not obj.erased:
            return "—"
        return format_html_join(
            "",
            "<div>{}: {}</div>",
            ((str(ERASED_LABELS.get(row["what"], row["what"])), row["count"]) for row in obj.erased),
        )


@admin.register(PrivacySettings)
class PrivacySettingsAdmin(SettingsAdmin):
    fields = ["import_rows_days", "api_answers_hours"]


@admin.register(AccessLog)
class AccessLogAdmin(MemberColumnMixin, ReadOnlyAdmin):
    """Who saw or took members' personal data unmasked, and when (administrators read it)."""

    list_display = ["at", "user", "what", "member", "count"]
    list_filter = ["what"]
    list_select_related = ["user", "member"]
    search_fields = ["=member__member_number", "=user__username"]
    search_help_text = gettext_lazy("Member number or username.")
    date_hierarchy = "at"

    @admin.display(description=gettext_lazy("member"))
    def member_full(self, obj: AccessLog) -> str:
        return f"{obj.member.member_number} {obj.member.name}".strip() if obj.member else "—"

    @admin.display(description=gettext_lazy("member"))
    def member_masked(self, obj: AccessLog) -> str:
        return str(obj.member) if obj.member else "—"
