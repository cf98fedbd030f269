from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from config.common.roles import Role


class PrivacyConfig(AppConfig):
    """Members' rights under PIPL: a copy of their data, erasure, retention, who saw what."""

    name = "members.privacy"
    label = "privacy"
    verbose_name = _("Personal information protection")

    role_permissions = {
        Role.OPERATOR: [
            "privacy.view_erasurerequest",
            "privacy.add_erasurerequest",
            "privacy.export_personal_data",
        ],
        Role.APPROVER: ["privacy.view_erasurerequest", "privacy.approve_erasurerequest"],
    }
