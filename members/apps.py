from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

from config.common.roles import Role


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = _("Members")

    role_permissions = {
        Role.OPERATOR: [
            "members.view_member",
            "members.add_member",
            "members.change_member",
            "members.browse_member",
            "members.view_member_pii",
            "members.import_member",
            "members.export_member",
            "members.view_identity",
            "members.add_identity",
            "members.change_identity",
            "members.delete_identity",
            "members.view_tag",
            "members.add_tag",
            "members.change_tag",
            "members.delete_tag",
            "members.view_store",
            "members.add_store",  # a file names a new store: operators add it (not its staff)
            "members.view_consentrecord",
        ],
        Role.STORE_STAFF: [
            "members.view_member",
            "members.add_member",
            "members.view_identity",
            "members.view_store",
            "members.view_tag",
        ],
        Role.FINANCE: [
            "members.view_member",
            "members.browse_member",
            "members.view_store",
            "members.view_tag",
        ],
        Role.APPROVER: [
            "members.view_member",
            "members.browse_member",
            "members.view_store",
            "members.view_tag",
        ],
    }

    def ready(self) -> None:
        from config.common.roles import sync_role_permissions

        # Runs after every app's migrate: permissions of later apps exist only by then.
        post_migrate.connect(sync_role_permissions, dispatch_uid="members.sync_role_permissions")
