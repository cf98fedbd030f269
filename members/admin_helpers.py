"""Admin helpers about members and stores, shared by every app's admin: the member column (masked
for roles without personal data), searching by member number, the members found at the counter,
and history pages that keep to what the user may open."""

from __future__ import annotations

from collections.abc import Iterable

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from config.common.admin import ModelAdmin, ReadableHistoryHelper
from config.common.admin_widgets import WEEKDAYS, ticks
from members import masking
from members.models import Channel, Member
from members.selectors import sees_every_store


def member_label(member: Member, user) -> str:
    """Member number and name: in full for roles that may see personal data, masked otherwise."""
    if masking.can_view_pii(user):
        return f"{member.member_number} {member.name}".strip()
    return str(member)  # Member.__str__ masks


class MemberColumnMixin(ModelAdmin):
    """Columns shown in full only to roles that may see personal data: ``pii_columns`` maps a
    name in ``list_display`` to its (full, masked) display methods. ``"member"`` becomes the
    member number with the name (needs ``member`` in ``list_select_related``)."""

    pii_columns: dict[str, tuple[str, str]] = {"member": ("member_full", "member_masked")}

    def get_list_display(self, request):
        pick = 0 if masking.can_view_pii(request.user) else 1
        return [
            self.pii_columns[name][pick] if isinstance(name, str) and name in self.pii_columns else name
            for name in super().get_list_display(request)
        ]

    @admin.display(description=_("member"))
    def member_full(self, obj) -> str:
        if obj.member is None:
            return "-"
        return f"{obj.member.member_number} {obj.member.name}".strip()

    @admin.display(description=_("member"))
    def member_masked(self, obj) -> str:
        return "-" if obj.member is None else str(obj.member)


def member_ids(member_number: str) -> list[int]:
    """The member with this exact number (a unique index), for admin searches by member number."""
    return list(Member.objects.filter(member_number=member_number).values_list("pk", flat=True))


# --- the counter's lookups -------------------------------------------------------------------

#: Session key of the members store staff found by an exact lookup during this login.
LOOKED_UP = "members_looked_up"
#: A counter serves one customer at a time; the last few found are enough to move between pages.
LOOKED_UP_KEEP = 50


def remember_looked_up(request, member_ids: Iterable[int]) -> None:
    """Store staff may open the pages of a member of another store found by an exact lookup
    (the customer is at the counter): the session remembers whom, for as long as it lasts."""
    ids = [int(pk) for pk in member_ids]
    if not ids:
        return
    kept = [pk for pk in request.session.get(LOOKED_UP, []) if pk not in ids]
    request.session[LOOKED_UP] = (kept + ids)[-LOOKED_UP_KEEP:]


def looked_up(request) -> list[int]:
    return list(request.session.get(LOOKED_UP, []))


class HistoryAdmin(SimpleHistoryAdmin, ModelAdmin):
    """Version history to read, never to revert.

    simple-history saves a posted past version after checking only that the user may *view*
    history (the revert button is merely hidden), and a revert would skip the services: the
    approval of a campaign, a reward's stock, a member's identity checks. So nobody reverts;
    an operator who wants an old value back types it, and that change is recorded too.
    """

    def has_change_history_permission(self, request, obj=None) -> bool:
        return False

    def has_view_history_or_change_history_permission(self, request, obj=None) -> bool:
        # Both history pages ask this; without SIMPLE_HISTORY_ENFORCE_HISTORY_MODEL_PERMISSIONS
        # simple-history would skip ``has_view_history_permission``, which admins narrow.
        return self.has_view_history_permission(request, obj)

    def get_historical_record_context_helper(self, request, historical_record):
        return ReadableHistoryHelper(self.model, historical_record)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            raise PermissionDenied
        self._may_read_history(request, object_id)
        # the model's own options (simple-history passes its "Historical …" model's)
        extra_context = {"opts": self.model._meta, **(extra_context or {})}
        return super().history_form_view(request, object_id, version_id, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        self._may_read_history(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def _may_read_history(self, request, object_id: str) -> None:
        """Only the history of an object the user may open now: simple-history falls back to
        the history table for an object outside ``get_queryset`` (another store's, for staff).
        A deleted object's history stays readable for roles that see every store."""
        try:
            pk = self.model._meta.pk.to_python(unquote(object_id))
            if self.get_queryset(request).filter(pk=pk).exists():
                return
            if sees_every_store(request.user) and not self.model._default_manager.filter(pk=pk).exists():
                return
        except (ValidationError, ValueError):
            pass
        raise Http404


class SettingsAdmin(HistoryAdmin):
    """The one row of a settings model (its ``current()`` makes it): the list opens the row's
    page; nobody adds or deletes one. Changes keep their history, like every setting."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        opts = self.model._meta
        row = self.model.current()
        return HttpResponseRedirect(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk])
        )


class WhereAndWhenForm(forms.ModelForm):
    """The channels and weekdays a campaign or a coupon is limited to, ticked (never JSON)."""

    channels = forms.MultipleChoiceField(
        label=capfirst(_("channels")),
        choices=Channel.choices,
        required=False,
        widget=ticks(),
        help_text=_("None ticked: every channel."),
    )
    weekdays = forms.TypedMultipleChoiceField(
        label=capfirst(_("weekdays")),
        choices=WEEKDAYS,
        coerce=int,
        required=False,
        widget=ticks(),
        help_text=_("None ticked: every day of the week."),
    )
