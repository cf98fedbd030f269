"""Messages in the admin: templates (with the variables they may use), the sending rules, the
outbox with each message's fate and reason, and what the recording provider captured. The
outbox and the recordings are read-only: messages are written by their causes, never by hand."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from config.common.admin import LargeTablePaginator, ReadOnlyAdmin
from members.admin_helpers import HistoryAdmin, MemberColumnMixin, SettingsAdmin
from members.messaging.models import Message, MessagingSettings, RecordedMessage, Template
from members.messaging.rendering import VARIABLES


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
    ]
    readonly_fields = ["variables"]

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
