"""Webhooks in the admin: each partner's endpoint (events ticked as checkboxes, the URL checked
against private addresses, the secret shown once when made or rotated) and the delivery log with
manual redelivery. An interface only: writes go through ``services``.

Only administrators manage webhooks, as they manage partners: the default model permissions,
which the Administrator role gets all of; nobody else is granted them.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from config.common.admin import LargeTablePaginator, ModelAdmin, ReadOnlyAdmin
from members.admin_helpers import MemberColumnMixin
from members.webhooks import services
from members.webhooks.models import EventType, WebhookEndpoint, WebhookEvent


class EndpointForm(forms.ModelForm):
    url = forms.URLField(
        label=capfirst(_("URL")),
        max_length=500,
        assume_scheme="https",
        help_text=WebhookEndpoint._meta.get_field("url").help_text,
    )
    event_types = forms.MultipleChoiceField(
        label=capfirst(_("events")),
        choices=EventType.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("The events the partner receives; only for members it may see."),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["partner", "url", "event_types", "is_active"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            services.endpoint_check_url(url)
        except ValidationError as refused:
            raise ValidationError(refused.message_dict["url"]) from None
        return url

    def clean_event_types(self) -> list[str]:
        return sorted(set(self.cleaned_data["event_types"]))


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ModelAdmin):
    form = EndpointForm
    list_display = ["partner", "url", "is_active", "events_summary", "updated_at"]
    list_filter = ["is_active"]
    list_select_related = ["partner"]
    search_fields = ["partner__code", "partner__name", "url"]
    search_help_text = _("Code or name of the partner, or part of the URL.")
    autocomplete_fields = ["partner"]
    actions = ["rotate_secret"]

    def get_fields(self, request, obj=None):
        fields = ["partner", "url", "event_types", "is_active"]
        return fields if obj is None else [*fields, "secret_state", "created_at", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["partner", "secret_state", "created_at", "updated_at"]

    @admin.display(description=_("events"))
    def events_summary(self, endpoint: WebhookEndpoint) -> str:
        labels = dict(EventType.choices)
        return "、".join(str(labels[t]) for t in endpoint.event_types if t in labels)

    @admin.display(description=_("signing secret"))
    def secret_state(self, endpoint: WebhookEndpoint) -> str:
        if endpoint.previous_secret_until:
            return format_html(
                "{} {}",
                _("Set (shown once when made)."),
                _("The previous secret also signs until %(until)s.")
                % {"until": endpoint.previous_secret_until.strftime("%Y-%m-%d %H:%M")},
            )
        return str(_("Set (shown once when made)."))

    def save_model(self, request, obj: WebhookEndpoint, form, change: bool) -> None:
        _endpoint, secret = services.endpoint_save(endpoint=obj)
        if secret:
            messages.warning(
                request,
                _("Signing secret of %(partner)s: %(secret)s — store it now, it will not be shown again.")
                % {"partner": obj.partner, "secret": secret},
            )

    @admin.action(
        description=_("Make a new signing secret (the old one still signs for 24 hours)"),
        permissions=["change"],
    )
    def rotate_secret(self, request, queryset) -> None:
        for endpoint in queryset.select_related("partner"):
            secret = services.endpoint_rotate_secret(endpoint=endpoint)
            self.log_change(request, endpoint, [{"changed": {"fields": ["secret"]}}])
            messages.warning(
                request,
                _("Signing secret of %(partner)s: %(secret)s — store it now, it will not be shown again.")
                % {"partner": endpoint.partner, "secret": secret},
            )


@admin.register(WebhookEvent)
class WebhookEventAdmin(MemberColumnMixin, ReadOnlyAdmin):
    """The delivery log: what was sent to whom, how it went, and when it is tried next."""

    list_display = [
        "created_at",
        "partner",
        "event_type",
        "member",
        "sequence",
        "status",
        "attempts",
        "response_code",
        "next_try_at",
    ]
    list_filter = ["status", "event_type", "partner"]
    list_select_related = ["partner", "member"]
    search_fields = ["=member__member_number", "=event_id"]
    search_help_text = _("Member number, or the event id.")
    ordering = ["-pk"]
    show_full_result_count = False
    paginator = LargeTablePaginator
    list_per_page = 100
    actions = ["redeliver"]
    fields = [
        "event_id",
        "partner",
        "event_type",
        "member",
        "sequence",
        "status",
        "attempts",
        "next_try_at",
        "response_code",
        "last_error",
        "created_at",
        "delivered_at",
        "pretty_body",
    ]
    readonly_fields = fields

    @admin.display(description=_("body"))
    def pretty_body(self, event: WebhookEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(json.loads(event.body), ensure_ascii=False, indent=2))

    def has_redeliver_permission(self, request) -> bool:
        return request.user.has_perm("webhooks.change_webhookevent")

    @admin.action(description=_("Deliver the selected events again"), permissions=["redeliver"])
    def redeliver(self, request, queryset) -> None:
        count = services.events_redeliver(queryset.values_list("pk", flat=True))
        self.message_user(
            request, _("Events queued for delivery again: %(count)d.") % {"count": count}, messages.SUCCESS
        )
