"""Members admin: an interface only. Saving calls ``members.services``; reading masks PII.

Roles without ``browse_member`` (store staff) get a counter lookup instead of a list: the
list stays empty until they type a full phone, card or member number. They open the pages of
their stores' members and of members they looked up in this session, nobody else's, and see
only their own stores (``members.selectors.members_visible_to``, ``stores_of``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from config.common.admin import LargeTablePaginator, ModelAdmin, TabularInline
from config.common.exports import SpreadsheetExportMixin
from members import masking, services
from members.admin_helpers import HistoryAdmin, looked_up, remember_looked_up
from members.models import ConsentChannel, ConsentRecord, Identity, Member, Store, Tag
from members.oneid.candidates import duplicates_find
from members.phones import try_normalize_mobile
from members.privacy.exports import personal_data_json
from members.privacy.models import AccessLog
from members.privacy.services import access_record
from members.referrals.errors import ReferralRefused
from members.referrals.services import referral_check, referral_link
from members.resources import MemberExportResource
from members.selectors import member_lookup, members_visible_to, sees_every_store, stores_of

#: Inlines other apps add to the member page (the 360° view): apps above members register here,
#: so members never imports them (apps depend downward only).
MEMBER_PAGE_INLINES: list[type[admin.options.InlineModelAdmin]] = []

PII_FIELDS = {
    "name": "masked_name",
    "mobile": "masked_mobile",
    "email": "masked_email",
    "birthday": "masked_birthday",
}
CONSENT_FIELDS = [f"{channel}_consent" for channel in ConsentChannel.values]


@admin.register(Store)
class StoreAdmin(HistoryAdmin):
    list_display = ["code", "name", "city", "kind", "is_active"]
    list_filter = ["kind", "is_active", "city"]
    search_fields = ["code", "name"]
    filter_horizontal = ["staff"]

    def get_queryset(self, request):
        # Store staff see their own stores only (also in the member form's store search).
        queryset = super().get_queryset(request)
        return queryset if sees_every_store(request.user) else queryset.filter(pk__in=stores_of(request.user))

    def get_exclude(self, request, obj=None):
        # Operators add the stores a file names; who works at a store (and so which members and
        # imports staff reach) stays with those who manage users.
        return None if request.user.has_perm("auth.change_user") else ["staff"]


@admin.register(Tag)
class TagAdmin(ModelAdmin):
    list_display = ["name", "description", "created_at"]
    search_fields = ["name"]


class IdentityForm(forms.ModelForm):
    class Meta:
        model = Identity
        fields = ["kind", "namespace", "value"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if self.instance.pk or not data.get("kind") or not data.get("value"):
            return data
        member = self.instance.member if self.instance.member_id else None
        try:
            key = services.identity_validate(
                member=member, kind=data["kind"], value=data["value"], namespace=data.get("namespace", "")
            )
        except ValidationError as exc:
            self.add_error(None, exc)
        else:
            data["value"], data["namespace"] = key.value, key.namespace
        return data

    def validate_unique(self) -> None:
        """Uniqueness is checked on the normalised value in ``clean`` above."""


class IdentityFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        for form in self.deleted_forms:
            if form.instance.is_primary_phone:
                raise ValidationError(
                    _("The primary phone is changed on the member, not removed here."), code="primary_phone"
                )


class IdentityInline(TabularInline):
    """Existing identities are read-only: an id is removed and re-added, never edited."""

    model = Identity
    form = IdentityForm
    formset = IdentityFormSet
    extra = 0
    fields = ["kind", "namespace", "value", "created_at"]
    readonly_fields = ["created_at"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_fields(self, request, obj=None):
        if obj is not None and not masking.can_view_pii(request.user):
            return ["kind", "namespace", "masked_value", "created_at"]
        return super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and not masking.can_view_pii(request.user):
            fields.append("masked_value")
        return fields

    @admin.display(description=_("value"))
    def masked_value(self, identity: Identity) -> str:
        return identity.masked_value()


class ConsentRecordInline(TabularInline):
    """The PIPL consent trail: written by ``member_set_consent`` only, never edited."""

    model = ConsentRecord
    extra = 0
    hide_title = True  # the row's cells say what the theme's row heading would
    fields = readonly_fields = ("channel", "granted", "recorded_at", "source", "actor")
    can_delete = False
    ordering = ["-recorded_at", "-id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


class MemberAdminForm(forms.ModelForm):
    referral_code = forms.CharField(
        label=_("Referral code"),
        max_length=16,
        required=False,
        help_text=_("The code of the member who referred this new member (以老带新), if any."),
    )

    class Meta:
        model = Member
        fields = [
            "status",
            "name",
            "mobile",
            "email",
            "gender",
            "birthday",
            "province",
            "city",
            "registration_channel",
            "registration_store",
            "sms_consent",
            "email_consent",
            "wechat_consent",
            "tags",
        ]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if "mobile" in data:
            try:
                data["mobile"] = services.validate_mobile(
                    data["mobile"], member=self.instance if self.instance.pk else None
                )
            except ValidationError as exc:
                self.add_error(None, exc)
        if data.get("referral_code") and not self.instance.pk:
            phone = [services.IdentityKey(Identity.Kind.PHONE, data["mobile"])] if data.get("mobile") else []
            try:
                referral_check(data["referral_code"], keys=phone)
            except ReferralRefused as exc:
                self.add_error("referral_code", exc.message)
        return data


@admin.register(Member)
class MemberAdmin(SpreadsheetExportMixin, HistoryAdmin):
    form = MemberAdminForm
    export_resource_classes = [MemberExportResource]  # masked for roles without personal data
    # Member lists are imported like every other file (imports, profile "members"); this
    # template adds the link next to the export button.
    change_list_template = "admin/members/member/change_list.html"
    list_display = [
        "member_number",
        "name",
        "mobile",
        "registration_channel",
        "registration_store",
        "status",
        "created_at",
    ]
    list_filter = ["status", "registration_channel", "registration_store", "tags"]
    list_select_related = ["registration_store"]
    search_fields = ["member_number"]  # shows the search box; the search itself is get_search_results
    search_help_text = _("Full phone, card or member number, or the start of a name.")
    show_full_result_count = False
    paginator = LargeTablePaginator
    list_per_page = 50
    autocomplete_fields = ["registration_store"]
    filter_horizontal = ["tags"]
    readonly_fields = ["member_number", "merged_into", "created_at", "updated_at"]
    inlines = [IdentityInline, ConsentRecordInline]
    actions = ["find_duplicates"]
    fieldsets = [
        (None, {"fields": ["member_number", "status", "merged_into"]}),
        (_("Profile"), {"fields": ["name", "mobile", "email", "gender", "birthday", "province", "city"]}),
        (
            _("Registration"),
            {"fields": ["registration_channel", "registration_store", "created_at", "updated_at"]},
        ),
        (_("Marketing consents"), {"fields": CONSENT_FIELDS}),
        (_("Tags"), {"fields": ["tags"]}),
    ]
    # a new member is active and has no number or dates yet
    add_fieldsets = [
        fieldsets[1],
        (_("Registration"), {"fields": ["registration_channel", "registration_store", "referral_code"]}),
        *fieldsets[3:],
    ]

    @admin.action(
        description=_("Find likely duplicates of the selected members"), permissions=["find_duplicates"]
    )
    def find_duplicates(self, request, queryset) -> HttpResponseRedirect:
        found = duplicates_find(member_ids=list(queryset.values_list("pk", flat=True)[:500]))
        messages.info(request, _("%(count)d new pairs to decide.") % {"count": found})
        url = reverse("admin:oneid_duplicatecandidate_changelist")
        if len(numbers := list(queryset.values_list("member_number", flat=True)[:2])) == 1:
            url += f"?q={numbers[0]}"
        return HttpResponseRedirect(url)

    def has_find_duplicates_permission(self, request) -> bool:
        return request.user.has_perm("oneid.change_duplicatecandidate")

    # --- who sees what ----------------------------------------------------------------
    def can_browse(self, request) -> bool:
        return request.user.has_perm("members.browse_member")

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if self.can_browse(request):
            return queryset
        visible = members_visible_to(request.user, looked_up=looked_up(request))
        return queryset.filter(pk__in=visible.values("pk"))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "registration_store" and not self.can_browse(request):
            # staff enrol at their own counter; the store makes the new member one of theirs
            stores = stores_of(request.user).filter(is_active=True)
            kwargs.update(queryset=stores, required=True)
            only = list(stores[:2])
            if len(only) == 1:
                kwargs["initial"] = only[0].pk
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_inlines(self, request, obj):
        return [*self.inlines, *MEMBER_PAGE_INLINES] if obj is not None else self.inlines

    def get_list_display(self, request):
        if masking.can_view_pii(request.user):
            return self.list_display
        return [PII_FIELDS.get(f, f) for f in self.list_display]

    def get_list_filter(self, request):
        return self.list_filter if self.can_browse(request) else []

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.add_fieldsets
        if masking.can_view_pii(request.user):
            return self.fieldsets
        return [
            (name, {**opts, "fields": [PII_FIELDS.get(f, f) for f in opts["fields"]]})
            for name, opts in self.fieldsets
        ]

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is not None:
            fields.append("registration_channel")  # a fact about the past
            if not masking.can_view_pii(request.user):
                fields += PII_FIELDS.values()
        return fields

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not self.can_browse(request):
            if not term:
                return queryset.none(), False
            # An exact lookup finds members of any store (the customer is at the counter);
            # their pages stay open to this user for the session.
            ids = [m.pk for m in member_lookup(term).candidates]
            remember_looked_up(request, ids)
            return super().get_queryset(request).filter(pk__in=ids), False
        if not term:
            return queryset, False
        # Resolve identities first (a handful of ids) so the member query stays an
        # index-only OR: a subquery inside the OR would scan the whole table.
        values = {term, term.upper()}
        phone = try_normalize_mobile(term)
        if phone:
            values.add(phone)
        ids = list(Identity.objects.filter(value__in=values).values_list("member_id", flat=True)[:100])
        return queryset.filter(Q(pk__in=ids) | Q(member_number=term) | Q(name__startswith=term)), False

    def changelist_view(self, request, extra_context=None):
        if not self.can_browse(request) and not request.GET.get("q"):
            messages.info(request, _("Type the member's full phone, card or member number to look them up."))
        # Member lists are imported by operators, through the import framework (profile "members").
        can_import = request.user.has_perm("imports.import_file") and self.can_browse(request)
        upload = reverse("admin:imports_importrun_upload") + "?profile=members" if can_import else None
        return super().changelist_view(request, {"member_import_url": upload, **(extra_context or {})})

    def render_change_form(self, request, context, *args, **kwargs):
        context["can_view_pii"] = masking.can_view_pii(request.user)
        obj = context.get("original")
        if obj is not None and request.user.has_perm("privacy.export_personal_data"):
            context["personal_data_url"] = reverse("admin:members_member_personal_data", args=[obj.pk])
        return super().render_change_form(request, context, *args, **kwargs)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and response.status_code == 200 and masking.can_view_pii(request.user):
            # PIPL: who saw this member's personal data in full, and when
            access_record(
                user=request.user, what=AccessLog.What.MEMBER_PAGE, member=response.context_data["original"]
            )
        return response

    def get_urls(self):
        personal = path(
            "<path:object_id>/personal-data/",
            self.admin_site.admin_view(self.personal_data_view),
            name="members_member_personal_data",
        )
        return [personal, *super().get_urls()]

    def personal_data_view(self, request, object_id: str) -> HttpResponse:
        """Everything the programme holds about the member, as one JSON file (PIPL access and
        portability); the download is logged."""
        if not request.user.has_perm("privacy.export_personal_data"):
            raise PermissionDenied
        member = self.get_object(request, unquote(object_id))
        if member is None:
            raise Http404
        access_record(user=request.user, what=AccessLog.What.PERSONAL_DATA, member=member)
        response = HttpResponse(personal_data_json(member), content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="member-{member.member_number}.json"'
        return response

    def get_data_for_export(self, request, queryset, **kwargs):
        data = super().get_data_for_export(request, queryset, **kwargs)
        if masking.can_view_pii(request.user):  # PIPL: who took members' personal data, how many
            access_record(user=request.user, what=AccessLog.What.MEMBER_EXPORT, count=len(data))
        return data

    def history_view(self, request, object_id, extra_context=None):
        # History rows hold full previous values: only for roles that may see personal data.
        if not masking.can_view_pii(request.user):
            raise PermissionDenied
        return super().history_view(request, object_id, extra_context)

    def has_view_history_permission(self, request, obj=None) -> bool:
        # the same for one past version (simple-history's history_form_view asks this)
        return masking.can_view_pii(request.user) and super().has_view_history_permission(request, obj)

    # --- masked read-only displays ---------------------------------------------------
    @admin.display(description=_("name"))
    def masked_name(self, member: Member) -> str:
        return masking.mask_name(member.name)

    @admin.display(description=_("mobile phone"))
    def masked_mobile(self, member: Member) -> str:
        return masking.mask_phone(member.mobile) if member.mobile else ""

    @admin.display(description=_("email"))
    def masked_email(self, member: Member) -> str:
        return masking.mask_email(member.email)

    @admin.display(description=_("birthday"))
    def masked_birthday(self, member: Member) -> str:
        return masking.mask_birthday(member.birthday)

    # --- writes go through services ----------------------------------------------------
    def save_model(self, request, obj: Member, form, change: bool) -> None:
        data = form.cleaned_data
        if change:
            # only what the operator changed: masked (read-only) fields are not in the form at all
            changed = {f: data[f] for f in (*services.PROFILE_FIELDS, "mobile") if f in form.changed_data}
            if changed:
                services.member_update(member=obj, actor=request.user, source="admin", **changed)
            for channel in ConsentChannel.values:
                field = f"{channel}_consent"
                if field in form.changed_data:
                    services.member_set_consent(
                        member=obj, channel=channel, granted=data[field], actor=request.user, source="admin"
                    )
        else:
            profile = {f: data[f] for f in services.PROFILE_FIELDS if f in data and f != "status"}
            member = services.member_enrol(
                mobile=data.get("mobile"),
                registration_channel=data["registration_channel"],
                consents={
                    channel: data.get(f"{channel}_consent", False) for channel in ConsentChannel.values
                },
                actor=request.user,
                source="admin",
                **profile,
            )
            if data.get("referral_code"):  # checked by the form; in the page's transaction
                referral_link(member, data["referral_code"], actor=request.user, source="admin")
            obj.pk, obj.member_number = member.pk, member.member_number
            obj._state.adding = False
            remember_looked_up(request, [member.pk])  # the page they are sent to next

    def save_related(self, request, form, formsets, change: bool) -> None:
        member = form.instance
        if "tags" in form.cleaned_data and (not change or "tags" in form.changed_data):
            services.member_set_tags(member=member, tags=form.cleaned_data["tags"], actor=request.user)
        for formset in formsets:
            # what formset.save() would record, for the admin's change message
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            if formset.model is Identity:
                self._save_identities(request, member, formset)

    def _save_identities(self, request, member: Member, formset) -> None:
        for identity_form in formset.forms:
            if identity_form in formset.deleted_forms and identity_form.instance.pk:
                services.identity_detach(identity=identity_form.instance, actor=request.user)
                formset.deleted_objects.append(identity_form.instance)
            elif not identity_form.instance.pk and identity_form.has_changed():
                data = identity_form.cleaned_data
                formset.new_objects.append(
                    services.identity_attach(
                        member=member,
                        kind=data["kind"],
                        value=data["value"],
                        namespace=data.get("namespace", ""),
                        actor=request.user,
                    )
                )

    def has_delete_permission(self, request, obj=None) -> bool:
        # Members are closed (status), not deleted: their ledger must stay whole.
        return False
