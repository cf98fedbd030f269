"""Users and roles (auth groups) in the admin, with permissions named in the reader's language.

Django stores a permission's name in English when ``migrate`` creates it ("Can add member") and
shows that text in every language; the permission pickers here name each one from its model
instead: the app, the model and the action, all translated.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth.models import Group, Permission, User
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from config.common.admin import ModelAdmin

ACTIONS = {
    "add": _("Can add %(model)s"),
    "change": _("Can change %(model)s"),
    "delete": _("Can delete %(model)s"),
    "view": _("Can view %(model)s"),
}


def permission_label(permission: Permission) -> str:
    model = permission.content_type.model_class()
    if model is None:  # a model that no longer exists
        return str(permission)
    opts = model._meta
    # third-party models and apps name themselves with plain strings: looked up in our catalogue
    model_label = gettext(str(opts.verbose_name))
    action, _sep, model_name = permission.codename.partition("_")
    custom = dict(opts.permissions).get(permission.codename)
    if custom:
        what = str(custom)
    elif action in ACTIONS and model_name == opts.model_name:
        what = ACTIONS[action] % {"model": model_label}
    else:
        what = gettext(permission.name)
    return f"{gettext(str(opts.app_config.verbose_name))} | {model_label} | {what}"


class PermissionsField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Permission) -> str:
        return permission_label(obj)


class TranslatedPermissionsMixin(ModelAdmin):
    def formfield_for_manytomany(self, db_field, request=None, **kwargs):
        if db_field.name in ("permissions", "user_permissions"):
            kwargs["form_class"] = PermissionsField
        return super().formfield_for_manytomany(db_field, request, **kwargs)


admin.site.unregister(Group)
admin.site.unregister(User)


@admin.register(Group)
class GroupAdmin(TranslatedPermissionsMixin, auth_admin.GroupAdmin):
    pass


@admin.register(User)
class UserAdmin(TranslatedPermissionsMixin, auth_admin.UserAdmin):
    # the theme's widgets on the forms Django's UserAdmin declares
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
