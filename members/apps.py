from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

from members.roles import Role

#: Purchases are read and exported, never edited in the admin (facts come from their sources).
_PURCHASES = [
    "members.view_purchase",
    "members.view_purchaseline",
    "members.view_refund",
    "members.export_purchase",
]


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
            *_PURCHASES,
            "members.import_file",
            "members.view_importrun",
            "members.view_importprofile",
            "members.add_importprofile",
            "members.change_importprofile",
        ],
        Role.STORE_STAFF: [
            "members.view_member",
            "members.add_member",
            "members.view_identity",
            "members.view_store",
            "members.view_tag",
            "members.import_file",
            "members.view_importrun",
            "members.view_importprofile",
        ],
        Role.FINANCE: [
            "members.view_member",
            "members.browse_member",
            "members.view_store",
            "members.view_tag",
            *_PURCHASES,
        ],
        Role.APPROVER: [
            "members.view_member",
            "members.browse_member",
            "members.view_store",
            "members.view_tag",
        ],
    }

    def ready(self) -> None:
        from members.roles import sync_role_permissions

        # Runs after every app's migrate: permissions of later apps exist only by then.
        post_migrate.connect(sync_role_permissions, dispatch_uid="members.sync_role_permissions")
        from members.imports.services import shipped_profiles_ensure

        post_migrate.connect(shipped_profiles_ensure, sender=self, dispatch_uid="members.shipped_profiles")
