"""Roles are groups made by migrations; each grants what its people need and no more."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from config.common.roles import Role

pytestmark = pytest.mark.django_db


def test_every_role_exists_as_a_group():
    assert set(Group.objects.values_list("name", flat=True)) >= {role.value for role in Role}


@pytest.mark.parametrize(
    ("role", "granted", "refused"),
    [
        (
            "operator",
            [
                "members.browse_member",
                "members.view_member_pii",
                "members.import_member",
                "members.export_member",
                "members.add_store",  # a file names a new store (not who works there)
            ],
            ["members.delete_member", "auth.change_user", "members.change_store"],
        ),
        (
            "store_staff",
            ["members.view_member", "members.add_member"],
            [
                "members.browse_member",
                "members.view_member_pii",
                "members.export_member",
                "members.change_member",
            ],
        ),
        ("finance", ["members.browse_member"], ["members.view_member_pii", "members.add_member"]),
        ("approver", ["members.browse_member"], ["members.view_member_pii", "members.change_member"]),
        ("administrator", ["auth.change_user", "members.change_store", "members.view_member_pii"], []),
    ],
)
def test_role_permissions(request, role, granted, refused):
    user = request.getfixturevalue(role)
    assert not user.is_superuser
    for perm in granted:
        assert user.has_perm(perm), perm
    for perm in refused:
        assert not user.has_perm(perm), perm


def test_sync_keeps_permissions_an_administrator_added(operator):
    from django.contrib.auth.models import Permission

    from config.common.roles import sync_role_permissions

    group = Group.objects.get(name=Role.OPERATOR.value)
    extra = Permission.objects.get(codename="change_store")
    group.permissions.add(extra)
    sync_role_permissions()
    assert group.permissions.filter(pk=extra.pk).exists()
