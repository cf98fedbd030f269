"""Households in the admin: the list, a household's page (rules, members, transfers to the head,
pool draws), and every change through the services: found a household, change its rules, add a
member, let members leave, dissolve. Members are shown masked to roles without personal data."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.common.admin import ReadOnlyInline, ServiceAdmin, ServiceForm, newest_rows, run_each
from config.common.validation import FieldErrors
from members import masking
from members.admin import MEMBER_PAGE_INLINES
from members.admin_helpers import HistoryAdmin
from members.models import Member
from members.selectors import member_numbered
from points.households.models import Household, HouseholdMembership, HouseholdTransfer, PoolDraw
from points.households.services import (
    household_create,
    household_dissolve,
    household_join,
    household_leave,
    household_update,
)


def _member(member: Member, full: bool) -> str:
    return f"{member.member_number} {member.name}".strip() if full else str(member)


class _MaskedInline(ReadOnlyInline):
    """Fields ending ``_masked`` are shown as ``_full`` to users who may see personal data."""

    def get_fields(self, request, obj=None):
        if not masking.can_view_pii(request.user):
            return list(self.fields)
        return [f.removesuffix("_masked") + "_full" if f.endswith("_masked") else f for f in self.fields]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)


class MembershipInline(_MaskedInline):
    model = HouseholdMembership
    fields = ["member_masked", "role", "joined_at", "left_at", "settled_points"]
    verbose_name_plural = gettext_lazy("members")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("member").order_by("left_at", "joined_at", "pk")

    @admin.display(description=gettext_lazy("member"))
    def member_full(self, obj: HouseholdMembership) -> str:
        return _member(obj.member, True)

    @admin.display(description=gettext_lazy("member"))
    def member_masked(self, obj: HouseholdMembership) -> str:
        return _member(obj.member, False)


class TransferInline(_MaskedInline):
    model = HouseholdTransfer
    formset = newest_rows("-id")
    fields = ["created_at", "member_masked", "points"]
    verbose_name_plural = gettext_lazy("transfers to the head (latest 20)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("member")

    member_full = MembershipInline.member_full
    member_masked = MembershipInline.member_masked


class PoolDrawInline(_MaskedInline):
    model = PoolDraw
    formset = newest_rows("-id")
    fields = ["created_at", "spender_masked", "giver_masked", "points", "returned_at"]
    verbose_name_plural = gettext_lazy("pool draws (latest 20)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("spender", "giver")

    @admin.display(description=gettext_lazy("spender"))
    def spender_full(self, obj: PoolDraw) -> str:
        return _member(obj.spender, True)

    @admin.display(description=gettext_lazy("spender"))
    def spender_masked(self, obj: PoolDraw) -> str:
        return _member(obj.spender, False)

    @admin.display(description=gettext_lazy("whose points"))
    def giver_full(self, obj: PoolDraw) -> str:
        return _member(obj.giver, True)

    @admin.display(description=gettext_lazy("whose points"))
    def giver_masked(self, obj: PoolDraw) -> str:
        return _member(obj.giver, False)


RULES = ["pool_spenders", "monthly_cap", "on_leave"]


class HouseholdForm(ServiceForm):
    """Founding: the name, the head by member number and the rules. Later: the name and rules,
    a member to add, members who leave."""

    head_number = forms.CharField(label=gettext_lazy("Head (member number)"), max_length=16, required=False)
    member_number = forms.CharField(
        label=gettext_lazy("Add a member (member number)"), max_length=16, required=False
    )
    leaving = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Members leaving"),
        queryset=HouseholdMembership.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("They leave now, settled by the household's rule."),
    )

    class Meta:
        model = Household
        fields = ["name", *RULES]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None and "leaving" in self.fields:
            field = self.fields["leaving"]
            assert isinstance(field, forms.ModelMultipleChoiceField)
            field.queryset = self.instance.memberships.filter(
                left_at__isnull=True, role=HouseholdMembership.Role.MEMBER
            ).select_related("member")
            # masked: the page is for every role
            field.label_from_instance = lambda obj: str(obj.member)  # type: ignore[method-assign]


@admin.register(Household)
class HouseholdAdmin(HistoryAdmin, ServiceAdmin):
    """Households: their head, rules and members; changed only through the services."""

    form = HouseholdForm
    list_display = ["name", "head_masked", "members", "pool_spenders", "monthly_cap", "on_leave", "status"]
    list_filter = ["status", "pool_spenders", "on_leave"]
    list_select_related = ["head"]
    search_fields = ["name", "=head__member_number", "=memberships__member__member_number"]
    search_help_text = gettext_lazy("Household name, or the member number of anyone in it.")
    actions = ["dissolve"]
    inlines = [MembershipInline, TransferInline, PoolDrawInline]

    def get_queryset(self, request) -> QuerySet[Household]:
        return (
            super()
            .get_queryset(request)
            .annotate(member_count=Count("memberships", filter=Q(memberships__left_at__isnull=True)))
        )

    def get_list_display(self, request):
        shown = super().get_list_display(request)
        if masking.can_view_pii(request.user):
            shown = ["head_full" if name == "head_masked" else name for name in shown]
        return shown

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "head_number", *RULES]
        head = "head_full" if masking.can_view_pii(request.user) else "head_masked"
        if obj.status != Household.Status.ACTIVE:
            return [head, "name", *RULES, "status", "created_at", "dissolved_at"]
        return [head, "name", *RULES, "status", "created_at", "member_number", "leaving"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        fixed = ["head_full", "head_masked", "status", "created_at", "dissolved_at"]
        return fixed + (["name", *RULES] if obj.status != Household.Status.ACTIVE else [])

    def get_inlines(self, request, obj=None):
        return self.inlines if obj is not None else []

    def construct_change_message(self, request, form, formsets, add=False):
        # the inlines are read-only and never saved (the services write the rows they show)
        return super().construct_change_message(request, form, [], add)

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.status != Household.Status.ACTIVE:
            return False  # dissolved: a record to read
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the ledger's entries name what moved in it: dissolved, never deleted

    def save_by_service(self, request, form, obj, change: bool) -> Any:
        data = form.cleaned_data
        rules = {name: data[name] for name in RULES}
        if not change:
            if not (data.get("head_number") or "").strip():
                raise ValidationError({"head_number": _("Give the head's member number.")})
            errors = FieldErrors()
            head = member_numbered(data["head_number"], errors, "head_number")
            errors.raise_if_any()
            assert head is not None
            return household_create(name=data["name"], head=head, actor=request.user, **rules)
        household = household_update(obj, name=data["name"], actor=request.user, **rules)
        if number := (data.get("member_number") or "").strip():
            errors = FieldErrors()
            member = member_numbered(number, errors, "member_number")
            errors.raise_if_any()
            assert member is not None
            household_join(household=household, member=member)
        for membership in data.get("leaving") or []:
            household_leave(member=membership.member, actor=request.user)
        return household

    @admin.display(description=gettext_lazy("head"))
    def head_full(self, obj: Household) -> str:
        return _member(obj.head, True)

    @admin.display(description=gettext_lazy("head"))
    def head_masked(self, obj: Household) -> str:
        return _member(obj.head, False)

    @admin.display(description=gettext_lazy("members"), ordering="member_count")
    def members(self, obj: Household) -> int:
        return getattr(obj, "member_count", 0)

    @admin.action(description=gettext_lazy("Dissolve the selected households"), permissions=["change"])
    def dissolve(self, request, queryset: QuerySet[Household]) -> None:
        run_each(
            request,
            queryset,
            lambda household: household_dissolve(household, actor=request.user),
            gettext_lazy("%(count)d households dissolved."),
            log=lambda household: self.log_change(request, household, _("Dissolved the household.")),
        )


class MemberHouseholdInline(ReadOnlyInline):
    """The member page: the household the member is in, or was in (name, role, dates). The
    other members are on the household's page, for roles that may open it."""

    model = HouseholdMembership
    fk_name = "member"
    formset = newest_rows("-joined_at", "-id", limit=5)
    fields = ["household_link", "role", "joined_at", "left_at"]
    verbose_name_plural = gettext_lazy("household")

    def get_queryset(self, request):
        self._may_open = request.user.has_perm("households.view_household")
        return super().get_queryset(request).select_related("household")

    @admin.display(description=gettext_lazy("household"))
    def household_link(self, obj: HouseholdMembership) -> str:
        if not getattr(self, "_may_open", False):
            return obj.household.name
        url = reverse("admin:households_household_change", args=[obj.household_id])
        return format_html('<a href="{}">{}</a>', url, obj.household.name)


MEMBER_PAGE_INLINES.append(MemberHouseholdInline)
