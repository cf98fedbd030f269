"""Create the product's roles as groups; their permissions are added after every migrate
(config.common.roles.sync_role_permissions), once every app's permissions exist."""

from django.db import migrations

ROLES = [
    "运营 Marketing operator",
    "门店员工 Store staff",
    "财务 Finance",
    "审批人 Approver",
    "管理员 Administrator",
]


def create_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
