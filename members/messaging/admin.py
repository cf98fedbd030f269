"""Messages in the admin: templates (with the variables they may use), the sending rules, the
outbox with each message's fate and reason, and what the recording provider captured. The
outbox and the recordings are read-only: messages are written by their causes, never by hand."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from config.common.admin import LargeTablePaginator, ReadOnlyAdmin
from members.admin_helpers import HistoryAdmin, MemberColumnMixin, SettingsAdmin
from members.masking import can_view_pii
from members.messaging.models import Message, MessagingSettings, RecordedMessage, Template
from members.messaging.rendering import VARIABLES, preview
from members.models import Member


class PreviewForm(forms.Form):
    member_number = forms.CharField(label=_("member number"), max_length=32, required=False, strip=True)


@admin.register(Template)
class TemplateAdmin(HistoryAdmin):
    list_display = ["name", "code", "channel", "language", "is_active", "updated_at"]
    list_filter = ["channel", "language", "is_active"]
    search_fields = ["name", "code"]
    search_help_text = _("Part of the name or code.")
    fields = [
        "code",
        "name",
        "channel",
        "language",
        "subject",
        "body",
        "wechat_template_id",
        "is_active",
        "variables",
        "preview_link",
    ]
    readonly_fields = ["variables", "preview_link"]

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/preview/", view(self.preview_view), name="messaging_template_preview"),
            *super().get_urls(),
        ]

    @admin.display(description=_("preview"))
    def preview_link(self, obj: Template | None = None) -> str:
        if obj is None or obj.pk is None:
            return str(_("Save the template first, then preview it with a member's data."))
        url = reverse("admin:messaging_template_preview", args=[obj.pk])
        return format_html(
            '<a class="text-primary-600" href="{}">{}</a>', url, _("Preview with a member's data")
        )

    def preview_view(self, request, object_id):
        """The saved template as a real member would receive it now: the newest active member,
        or the one whose number is asked for. Personal data: for roles that may see it."""
        if not self.has_view_permission(request) or not can_view_pii(request.user):
            raise PermissionDenied
        template = self.get_object(request, object_id)
        if template is None:
            raise Http404
        form = PreviewForm(request.GET or None)
        members = Member.objects.filter(status=Member.Status.ACTIVE)
        member = None
        if form.is_valid() and form.cleaned_data["member_number"]:
            member = members.filter(member_number=form.cleaned_data["member_number"]).first()
            if member is None:
                form.add_error("member_number", _("No active member has this number."))
        elif not form.errors:
            member = members.order_by("-pk").first()
        subject, body = preview(template, member) if member else ("", "")
        context = {
            **self.admin_site.each_context(request),
            "title": _("Preview of “%(template)s”") % {"template": template.name},
            "opts": Template._meta,
            "original": template,
            "form": form,
            "member": member,
            "rows": [
                (_("member"), f"{member.member_number} {member.name}" if member else "-"),
                (_("subject"), subject or "-"),
                (_("text"), body or "-"),
            ],
        }
        return TemplateResponse(request, "admin/messaging/template/preview.html", context)

    @admin.display(description=_("variables"))
    def variables(self, obj: Template | None = None) -> str:
        listed = format_html_join(
            "", "<div><code>{{{}}}</code> {}</div>", ((name, label) for name, label in VARIABLES.items())
        )
        fields = _("WeChat: a line per field of the WeChat template, “field: value” (thing1: 积分即将到期).")
        rest = _("Plain text fills one field. Fields thing1, thing2 … take 20 characters; more is cut.")
        return format_html("{}<p>{}<br>{}</p>", listed, fields, rest)


@admin.register(MessagingSettings)
class MessagingSettingsAdmin(SettingsAdmin):
    fields = ["quiet_from", "quiet_until", "daily_cap", "weekly_cap", "unsubscribe_keywords"]


@admin.register(Message)
class MessageAdmin(MemberColumnMixin, ReadOnlyAdmin):
    list_display = [
        "created_at",
        "member",
        "channel",
        "kind",
        "status",
        "reason",
        "send_after",
        "sent_at",
        "source",
    ]
    list_filter = ["status", "channel", "kind", "reason"]
    list_select_related = ["member"]
    search_fields = ["=member__member_number", "=key"]
    search_help_text = _("Member number, or the message's key.")
    ordering = ["-pk"]
    show_full_result_count = False
    paginator = LargeTablePaginator
    list_per_page = 100
    exclude = ["claimed_at"]


@admin.register(RecordedMessage)
class RecordedMessageAdmin(ReadOnlyAdmin):
    """What would have gone out, had a real provider been connected."""

    list_display = ["recorded_at", "channel", "recipient", "subject", "body"]
    list_filter = ["channel"]
    ordering = ["-pk"]
    show_full_result_count = False
    paginator = LargeTablePaginator
    list_per_page = 100
