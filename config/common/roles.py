"""The product's roles, as auth groups, and the permissions each one is granted.

Groups are created by a migration. Each app declares what its models grant to each role in
its AppConfig (``role_permissions``); after every ``migrate`` the declared permissions are
added to the groups. Adding is one-way on purpose: an administrator may have widened a group
in the admin, and a deploy must not silently take that back. The one exception is
``role_revoked_permissions``: what a role was granted by an earlier version and must not have
(a page that showed every store's data to store staff) is taken away on every ``migrate``.
"""

from __future__ import annotations

import enum

from django.apps import apps as global_apps
from django.utils.translation import gettext_lazy as _


class Role(enum.StrEnum):
    """Group names are stable data, bilingual so both admin languages read them."""

    OPERATOR = "运营 Marketing operator"
    STORE_STAFF = "门店员工 Store staff"
    FINANCE = "财务 Finance"
    APPROVER = "审批人 Approver"
    ADMINISTRATOR = "管理员 Administrator"


ROLE_DESCRIPTIONS = {
    Role.OPERATOR: _("Runs the programme: members, tags, campaigns, imports; sees full personal data."),
    Role.STORE_STAFF: _(
        "Serves members at the counter: looks members up by exact phone or card, enrols them."
    ),
    Role.FINANCE: _("Reads balances and the points liability; personal data masked."),
    Role.APPROVER: _("Approves campaigns and large adjustments made by others; personal data masked."),
    Role.ADMINISTRATOR: _("Everything, including users, roles and stores."),
}

ALL = "__all__"


def declared_permissions(app_configs=None) -> dict[Role, set[str]]:
    """{role: {"app_label.codename", ...}} gathered from every installed app's AppConfig."""
    declared: dict[Role, set[str]] = {role: set() for role in Role}
    for config in app_configs or global_apps.get_app_configs():
        for role, perms in getattr(config, "role_permissions", {}).items():
            declared[Role(role)].update(perms)
    return declared


def revoked_permissions(app_configs=None) -> dict[Role, set[str]]:
    """{role: {"app_label.codename", ...}} that the role must not have (``role_revoked_permissions``)."""
    revoked: dict[Role, set[str]] = {role: set() for role in Role}
    for config in app_configs or global_apps.get_app_configs():
        for role, perms in getattr(config, "role_revoked_permissions", {}).items():
            revoked[Role(role)].update(perms)
    return revoked


def _permissions(using: str, perms: set[str]):
    from django.contrib.auth.models import Permission

    by_app: dict[str, list[str]] = {}
    for perm in perms:
        app_label, codename = perm.split(".")
        by_app.setdefault(app_label, []).append(codename)
    found = Permission.objects.using(using).none()
    for app_label, codenames in by_app.items():
        found = found | Permission.objects.using(using).filter(
            content_type__app_label=app_label, codename__in=codenames
        )
    return found


def sync_role_permissions(*, using: str = "default", **_kwargs) -> None:
    """Add the declared permissions to each role's group and take the revoked ones away
    (post_migrate handler)."""
    from django.contrib.auth.models import Group, Permission

    for role, perms in declared_permissions().items():
        group, _created = Group.objects.using(using).get_or_create(name=role.value)
        if role is Role.ADMINISTRATOR:
            wanted = Permission.objects.using(using).all()
        else:
            wanted = _permissions(using, perms)
        group.permissions.add(*wanted)
    for role, perms in revoked_permissions().items():
        if perms and role is not Role.ADMINISTRATOR:
            group = Group.objects.using(using).get(name=role.value)
            group.permissions.remove(*_permissions(using, perms))
