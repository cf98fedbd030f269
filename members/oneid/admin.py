"""OneID in the admin: the duplicate candidates to decide, and merges (ask, approve, see what moved)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.common.admin import ModelAdmin, ServiceAdmin, ServiceForm, run_each
from members import masking
from members.models import Member
from members.oneid.models import DuplicateCandidate, MemberMerge
from members.oneid.selectors import candidate_evidence, merge_preview
from members.oneid.services import (
    MOVED_LABELS,
    candidate_dismiss,
    merge_approve,
    merge_reject,
    merge_request,
    merge_validate_members,
)


def _member_link(member: Member, full: bool) -> str:
    url = reverse("admin:members_member_change", args=[member.pk])
    label = f"{member.member_number} {member.name}".strip() if full else str(member)
    return format_html('<a href="{}">{}</a>', url, label)


def member_columns(field: str, description: Any) -> tuple[Any, Any]:
    """The full and masked display methods of a member column, linking to the member (the admin
    instance serves every request: which one a user sees is chosen per request, by name)."""

    @admin.display(description=description)
    def full(self, obj) -> str:
        return _member_link(getattr(obj, field), True)

    @admin.display(description=description)
    def masked(self, obj) -> str:
        return _member_link(getattr(obj, field), False)

    return full, masked


class PiiColumns(ModelAdmin):
    """Columns and read-only fields named ``<name>_masked`` are shown as ``<name>_full`` to users
    who may see personal data (as ``members.admin_helpers.MemberColumnMixin``)."""

    def _pick(self, request, names):
        if not masking.can_view_pii(request.user):
            return list(names)
        return [
            name.removesuffix("_masked") + "_full" if name.endswith("_masked") else name for name in names
        ]

    def get_list_display(self, request):
        return self._pick(request, super().get_list_display(request))


class MergeForm(ServiceForm):
    survivor_number = forms.CharField(
        label=gettext_lazy("Surviving member (member number)"),
        max_length=16,
        help_text=gettext_lazy("The record that stays: it receives everything of the others."),
    )
    absorbed_numbers = forms.CharField(
        label=gettext_lazy("Members to merge into it (member numbers)"),
        max_length=200,
        help_text=gettext_lazy("One or more, separated by spaces or commas; each is closed after the merge."),
    )

    class Meta:
        model = MemberMerge
        fields = ["reason"]

    def absorbed(self) -> list[str]:
        return [n for n in self.cleaned_data["absorbed_numbers"].replace(",", " ").split() if n]


@admin.register(MemberMerge)
class MemberMergeAdmin(PiiColumns, ServiceAdmin):
    """Merges asked for, waiting, done: the absorbed record, the survivor, and what moved."""

    form = MergeForm
    list_display = [
        "requested_at",
        "absorbed_masked",
        "survivor_masked",
        "status",
        "requested_by",
        "decided_by",
    ]
    list_filter = ["status"]
    list_select_related = ["absorbed", "survivor", "requested_by", "decided_by"]
    search_fields = ["=absorbed__member_number", "=survivor__member_number"]
    search_help_text = gettext_lazy("Member number of either member.")
    actions = ["approve", "reject"]
    add_form_template = "admin/oneid/merge_add.html"
    readonly_fields = [
        "absorbed_masked",
        "survivor_masked",
        "status",
        "reason",
        "needs_approval",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
        "decision_note",
        "merged_at",
        "moved_table",
    ]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["survivor_number", "absorbed_numbers", "reason"]
        return self._pick(request, self.readonly_fields)

    def get_readonly_fields(self, request, obj=None):
        return self._pick(request, self.readonly_fields) if obj is not None else []

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a merge is asked for, approved or rejected: never edited

    def render_change_form(self, request, context, *args, **kwargs):
        # asked once: no "save and add another" or "save and continue editing"
        context.update(show_save_and_add_another=False, show_save_and_continue=False)
        return super().render_change_form(request, context, *args, **kwargs)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_changeform_initial_data(self, request) -> dict[str, Any]:
        return {
            "survivor_number": request.GET.get("survivor", ""),
            "absorbed_numbers": request.GET.get("absorbed", ""),
        }

    def add_view(self, request, form_url="", extra_context=None):
        survivor = request.GET.get("survivor", "")
        absorbed = request.GET.get("absorbed", "").replace(",", " ").split()
        extra = {
            "preview": merge_preview(survivor, absorbed, request.user) if survivor and absorbed else None
        }
        return super().add_view(request, form_url, {**(extra_context or {}), **extra})

    def save_by_service(self, request, form, obj, change: bool) -> Any:
        survivor, absorbed = merge_validate_members(form.cleaned_data["survivor_number"], form.absorbed())
        records = merge_request(
            survivor=survivor, absorbed=absorbed, reason=form.cleaned_data["reason"], actor=request.user
        )
        return records[0]

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("oneid.approve_membermerge"):
            actions.pop("approve", None)
            actions.pop("reject", None)
        return actions

    @admin.action(description=gettext_lazy("Approve and merge the selected members"))
    def approve(self, request, queryset: QuerySet[MemberMerge]) -> None:
        run_each(
            request,
            queryset,
            lambda merge: merge_approve(merge=merge, actor=request.user),
            gettext_lazy("%(count)d merges approved and done."),
            log=lambda merge: self.log_change(request, merge, _("Approved the merge.")),
        )

    @admin.action(description=gettext_lazy("Reject the selected merges"))
    def reject(self, request, queryset: QuerySet[MemberMerge]) -> None:
        run_each(
            request,
            queryset,
            lambda merge: merge_reject(merge=merge, actor=request.user, note=_("Rejected in the admin.")),
            gettext_lazy("%(count)d merges rejected."),
            log=lambda merge: self.log_change(request, merge, _("Rejected the merge.")),
        )

    absorbed_full, absorbed_masked = member_columns("absorbed", gettext_lazy("absorbed member"))
    survivor_full, survivor_masked = member_columns("survivor", gettext_lazy("surviving member"))

    @admin.display(description=gettext_lazy("why it needs approval"))
    def needs_approval(self, obj: MemberMerge) -> str:
        return "; ".join(obj.approval_reasons) or _("Nothing: merged when asked.")

    @admin.display(description=gettext_lazy("what moved"))
    def moved_table(self, obj: MemberMerge) -> str:
        if not obj.moved:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (str(MOVED_LABELS.get(row["what"], row["what"])), row.get("detail", ""), f"{row['count']:,}")
                for row in obj.moved
            ),
        )
        return format_html(
            '<table class="data-table"><thead><tr><th>{}</th><th></th><th>{}</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            _("What"),
            _("How many"),
            rows,
        )


@admin.register(DuplicateCandidate)
class DuplicateCandidateAdmin(PiiColumns):
    """Pairs that look like one person (the nightly search and "find duplicates"), to merge or dismiss."""

    list_display = ["found_at", "first_masked", "second_masked", "evidence_masked", "status", "merge_link"]
    list_filter = ["status"]
    list_select_related = ["first", "second"]
    search_fields = ["=first__member_number", "=second__member_number"]
    search_help_text = gettext_lazy("Member number of either member.")
    actions = ["dismiss"]
    fields = [
        "first_masked",
        "second_masked",
        "evidence_masked",
        "status",
        "found_at",
        "decided_by",
        "decided_at",
    ]

    def get_fields(self, request, obj=None):
        return self._pick(request, self.fields)

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    first_full, first_masked = member_columns("first", gettext_lazy("member"))
    second_full, second_masked = member_columns("second", gettext_lazy("possible duplicate"))

    @admin.display(description=gettext_lazy("evidence"))
    def evidence_full(self, obj: DuplicateCandidate) -> str:
        return candidate_evidence(obj, full=True)

    @admin.display(description=gettext_lazy("evidence"))
    def evidence_masked(self, obj: DuplicateCandidate) -> str:
        return candidate_evidence(obj, full=False)

    def get_list_display(self, request):
        shown = super().get_list_display(request)
        if not request.user.has_perm("oneid.add_membermerge"):
            shown = [name for name in shown if name != "merge_link"]
        return shown

    @admin.display(description=gettext_lazy("merge"))
    def merge_link(self, obj: DuplicateCandidate) -> str:
        if obj.status != DuplicateCandidate.Status.OPEN:
            return ""
        # the older record survives by default: it usually holds the longer history
        query = urlencode({"survivor": obj.first.member_number, "absorbed": obj.second.member_number})
        return format_html(
            '<a href="{}?{}">{}</a>', reverse("admin:oneid_membermerge_add"), query, _("Merge…")
        )

    @admin.action(description=gettext_lazy("Not the same person: dismiss"), permissions=["change"])
    def dismiss(self, request, queryset: QuerySet[DuplicateCandidate]) -> None:
        run_each(
            request,
            queryset,
            lambda pair: candidate_dismiss(candidate=pair, actor=request.user),
            gettext_lazy("%(count)d pairs dismissed."),
            log=lambda pair: self.log_change(request, pair, _("Dismissed: not the same person.")),
        )
