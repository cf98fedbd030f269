"""Partners admin: partners (grants and channels as checkboxes) and their API keys.

An interface only: a new partner gets its service user from ``services.service_user_for``,
keys are created and revoked by ``services.key_create`` / ``services.key_revoke``. A new key is
shown once, in a warning message; afterwards only its prefix is.

Keys are addressed by their prefix everywhere in the admin (URLs, checkboxes, log entries):
their primary key is ``prefix.hash``, and the hash is never put on a page.

Only administrators manage partners: the default model permissions, which the Administrator
role gets all of (``config.common.roles``); nobody else is granted them.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, TypedDict

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db.models import Count, Model, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst, format_lazy
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key import admin as _library_admin  # noqa: F401  (registers APIKey: undone below)
from rest_framework_api_key.models import APIKey
from unfold.views import ChangeList

from config.common.admin import ModelAdmin
from members.admin_helpers import HistoryAdmin
from members.models import Channel
from members.partners import services
from members.partners.models import Grant, Partner, PartnerKey, PartnerKind

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise, WithAnnotations


class ActiveKeys(TypedDict):
    """What ``PartnerAdmin.get_queryset`` annotates on each partner."""

    active_key_count: int


# The library's own key model is not used: partners have PartnerKey.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)

#: Operators read the label; the partner's developers read the code in the API docs.
GRANT_CHOICES = [(grant.value, format_lazy("{} ({})", grant.label, grant.value)) for grant in Grant]


def local_time(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}" if moment else "-"


def key_status(key: PartnerKey) -> StrOrPromise:
    if key.revoked:
        return _("revoked")
    if key.has_expired:
        return _("expired")
    return _("active")


def key_url(key: PartnerKey) -> str:
    return reverse("admin:partners_partnerkey_change", args=[key.prefix])


# --- partners -------------------------------------------------------------------------------


class PartnerForm(forms.ModelForm):
    kind = forms.ChoiceField(
        label=capfirst(_("kind")),
        choices=PartnerKind.choices,
        widget=forms.RadioSelect,
        required=False,  # a form without it keeps the safe default, third-party
        initial=PartnerKind.THIRD_PARTY,
        help_text=Partner._meta.get_field("kind").help_text,
    )
    grants = forms.MultipleChoiceField(
        label=capfirst(_("granted operations")),
        choices=GRANT_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("Each endpoint of the API needs one of these; without it the partner gets 403."),
    )
    channels = forms.MultipleChoiceField(
        label=capfirst(_("channels")),
        choices=Channel.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("Where its customers come from: members it enrols outside its stores register here."),
    )

    class Meta:
        model = Partner
        fields = ["code", "name", "is_active", "kind", "rate_per_minute", "grants", "channels", "stores"]

    def clean_kind(self) -> str:
        return self.cleaned_data["kind"] or (
            self.instance.kind if self.instance.pk else PartnerKind.THIRD_PARTY
        )

    def clean_grants(self) -> list[str]:
        return sorted(set(self.cleaned_data["grants"]))

    def clean_channels(self) -> list[str]:
        return sorted(set(self.cleaned_data["channels"]))


@admin.register(Partner)
class PartnerAdmin(HistoryAdmin):
    form = PartnerForm
    list_display = ["code", "name", "kind", "is_active", "active_keys", "grants_summary", "created_at"]
    list_filter = ["is_active", "kind"]
    search_fields = ["code", "name"]
    filter_horizontal = ["stores"]
    fieldsets = [
        (None, {"fields": ["code", "name", "is_active", "rate_per_minute"]}),
        (_("Access"), {"fields": ["kind", "grants", "channels", "stores"]}),
        (_("API keys"), {"fields": ["keys_overview"]}),
        (_("Record"), {"fields": ["service_user", "created_at"]}),
    ]
    add_fieldsets = fieldsets[:2]

    def get_fieldsets(self, request, obj=None):
        return self.fieldsets if obj is not None else self.add_fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # the code names its service user and the source of everything it posted
        return ["code", "keys_overview", "service_user", "created_at"]

    def get_queryset(self, request):
        # a subquery, not a join: the list's counts stay plain COUNT(*) over the partners
        usable = (
            PartnerKey.objects.filter(partner=OuterRef("pk"), revoked=False)
            .filter(Q(expiry_date__isnull=True) | Q(expiry_date__gt=timezone.now()))
            .order_by()
            .values("partner")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return super().get_queryset(request).annotate(active_key_count=Coalesce(Subquery(usable), 0))

    @admin.display(description=_("active keys"), ordering="active_key_count")
    def active_keys(self, partner: WithAnnotations[Partner, ActiveKeys]) -> str:
        url = reverse("admin:partners_partnerkey_changelist") + f"?partner__id__exact={partner.pk}"
        return format_html('<a href="{}">{}</a>', url, partner.active_key_count)

    @admin.display(description=_("granted operations"))
    def grants_summary(self, partner: Partner) -> str:
        if not partner.grants:
            return "-"
        if set(Grant.values) <= set(partner.grants):
            return _("all (%(count)d)") % {"count": len(Grant.values)}
        labels = dict(Grant.choices)
        return format_html(
            '<span title="{}">{}</span>',
            "; ".join(str(labels.get(g, g)) for g in partner.grants),
            ", ".join(partner.grants),
        )

    @admin.display(description=_("service user"))
    def service_user(self, partner: Partner) -> str:
        return partner.user.get_username()

    @admin.display(description=_("API keys"))
    def keys_overview(self, partner: Partner) -> str:
        keys = list(partner.keys.order_by("-created"))
        header = format_html(
            "<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            _("prefix"),
            _("key name"),
            _("created"),
            _("expires"),
            _("status"),
        )
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    key_url(k),
                    k.prefix,
                    k.name,
                    local_time(k.created),
                    local_time(k.expiry_date),
                    key_status(k),
                )
                for k in keys
            ),
        )
        table = format_html("<table>{}{}</table>", header, rows) if keys else _("No keys yet.")
        add_url = reverse("admin:partners_partnerkey_add") + f"?partner={partner.pk}"
        return format_html('{}<p><a class="addlink" href="{}">{}</a></p>', table, add_url, _("Create a key"))

    def save_model(self, request, obj: Partner, form, change: bool) -> None:
        if not change:
            obj.user = services.service_user_for(obj.code)
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request, obj=None) -> bool:
        # A partner is deactivated, not deleted: its purchases and history keep naming it.
        return False


# --- keys -----------------------------------------------------------------------------------


def addressed(key: PartnerKey) -> PartnerKey:
    """A stand-in for ``key`` whose pk is its prefix, for the URLs and logs the admin builds."""
    shown = copy.copy(key)
    shown.pk = key.prefix
    return shown


class KeyChangeList(ChangeList):
    def url_for_result(self, result: Model) -> str:
        assert isinstance(result, PartnerKey)  # the key admin's change list lists keys only
        return key_url(result)


class KeyStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", _("active")), ("expired", _("expired")), ("revoked", _("revoked"))]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(Q(expiry_date__isnull=True) | Q(expiry_date__gt=now), revoked=False)
        if self.value() == "expired":
            return queryset.filter(revoked=False, expiry_date__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked=True)
        return queryset


class PartnerKeyForm(forms.ModelForm):
    class Meta:
        model = PartnerKey
        fields = ["partner", "name", "expiry_date", "revoked"]
        labels = {
            "name": capfirst(_("key name")),
            "expiry_date": capfirst(_("expires")),
            "revoked": capfirst(_("revoked")),
        }
        help_texts = {
            "name": _("Where the key is used, e.g. the POS of the Shanghai stores."),
            "expiry_date": _("Empty: the key does not expire. After it, requests with the key get 401."),
            "revoked": _("A revoked key stops working at once. This cannot be undone."),
        }

    def clean_expiry_date(self):
        value = self.cleaned_data.get("expiry_date")
        if value is not None and "expiry_date" in self.changed_data and value <= timezone.now():
            raise ValidationError(_("The expiry must be in the future."), code="past")
        return value


@admin.register(PartnerKey)
class PartnerKeyAdmin(ModelAdmin):
    form = PartnerKeyForm
    list_display = ["key_prefix", "key_name", "partner", "key_created", "key_expires", "key_revoked"]
    list_display_links = ["key_prefix", "key_name"]
    list_filter = [KeyStatusFilter, "partner"]
    list_select_related = ["partner"]
    search_fields = ["prefix", "name", "partner__code", "partner__name"]
    search_help_text = _("Prefix or name of the key, code or name of the partner.")
    actions = ["revoke_keys"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["partner", "name", "expiry_date"]
        if obj.revoked:  # read-only from now on: display labels of our own
            return ["partner", "key_prefix", "key_name", "key_created", "key_expires", "key_revoked"]
        return ["partner", "key_prefix", "name", "key_created", "expiry_date", "revoked"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["partner", "key_prefix", "key_name", "key_created", "key_expires", "key_revoked"]

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.revoked:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        # A key is revoked, not deleted: requests made with it keep naming it.
        return False

    # --- columns --------------------------------------------------------------------------
    @admin.display(description=_("prefix"), ordering="prefix")
    def key_prefix(self, key: PartnerKey) -> str:
        return key.prefix

    @admin.display(description=_("key name"), ordering="name")
    def key_name(self, key: PartnerKey) -> str:
        return key.name

    @admin.display(description=_("created"), ordering="created")
    def key_created(self, key: PartnerKey) -> str:
        return local_time(key.created)

    @admin.display(description=_("expires"), ordering="expiry_date")
    def key_expires(self, key: PartnerKey) -> str:
        return local_time(key.expiry_date)

    @admin.display(description=_("revoked"), boolean=True, ordering="revoked")
    def key_revoked(self, key: PartnerKey) -> bool:
        return key.revoked

    # --- writes go through services -------------------------------------------------------
    def save_model(self, request, obj: PartnerKey, form, change: bool) -> None:
        if not change:
            key, text = services.key_create(partner=obj.partner, name=obj.name, expires_at=obj.expiry_date)
            obj.pk, obj.prefix, obj.hashed_key, obj.created = key.pk, key.prefix, key.hashed_key, key.created
            obj._state.adding, obj._state.db = False, key._state.db
            messages.warning(
                request,
                _("The API key of %(partner)s is %(key)s — store it now, it will not be shown again.")
                % {"partner": obj.partner, "key": text},
            )
            return
        fields = [f for f in ("name", "expiry_date") if f in form.changed_data]
        if fields:
            obj.save(update_fields=fields)
        if "revoked" in form.changed_data and obj.revoked:
            services.key_revoke(key=obj)

    @admin.action(description=_("Revoke the selected keys (cannot be undone)"), permissions=["change"])
    def revoke_keys(self, request, queryset) -> None:
        keys = list(queryset.filter(revoked=False))
        for key in keys:
            services.key_revoke(key=key)
            self.log_change(request, key, [{"changed": {"fields": ["revoked"]}}])
        self.message_user(request, _("Keys revoked: %(count)d.") % {"count": len(keys)}, messages.SUCCESS)

    # --- a key is named by its prefix, never by its primary key (prefix.hash) -------------
    def get_object(self, request, object_id, from_field=None):
        if from_field is not None:
            return super().get_object(request, object_id, from_field)
        return self.get_queryset(request).filter(prefix=object_id.partition(".")[0]).first()

    def get_changelist(self, request, **kwargs):
        return KeyChangeList

    def action_checkbox(self, key: PartnerKey):
        return super().action_checkbox(addressed(key))

    def response_action(self, request, queryset):
        prefixes = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if prefixes:
            post = request.POST.copy()
            pks = PartnerKey.objects.filter(prefix__in=prefixes).values_list("pk", flat=True)
            post.setlist(helpers.ACTION_CHECKBOX_NAME, list(pks))
            request.POST = post
        return super().response_action(request, queryset)

    def log_addition(self, request, obj, message):
        return super().log_addition(request, addressed(obj), message)

    def log_change(self, request, obj, message):
        return super().log_change(request, addressed(obj), message)

    def response_add(self, request, obj, post_url_continue=None):
        return super().response_add(request, addressed(obj), post_url_continue)

    def response_change(self, request, obj):
        return super().response_change(request, addressed(obj))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["original"] = addressed(obj)  # the history link of the object tools
        return super().render_change_form(request, context, add, change, form_url, obj)

    def history_view(self, request, object_id, extra_context=None):
        # the page's header links the key by its object
        key = self.get_object(request, unquote(object_id))
        shown = {"object": addressed(key)} if key is not None else {}
        return super().history_view(request, object_id, {**shown, **(extra_context or {})})
