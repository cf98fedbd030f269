from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

from config.common.roles import Role


class ImportsConfig(AppConfig):
    """Files from POS and shops: profiles, runs and their staged rows."""

    name = "members.imports"
    label = "imports"
    verbose_name = _("Imports")

    role_permissions = {
        Role.OPERATOR: [
            "imports.import_file",
            "imports.view_importrun",
            "imports.view_importprofile",
            "imports.add_importprofile",
            "imports.change_importprofile",
        ],
        Role.STORE_STAFF: ["imports.import_file", "imports.view_importrun", "imports.view_importprofile"],
    }

    def ready(self) -> None:
        from members.imports.services import shipped_profiles_ensure

        post_migrate.connect(shipped_profiles_ensure, sender=self, dispatch_uid="imports.shipped_profiles")
