from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from config.common.roles import Role


class CommonConfig(AppConfig):
    """Building blocks with no domain, below every app: an app so that Django finds its template
    tags (``{% load formats %}``) and its users-and-roles admin."""

    name = "config.common"
    label = "common"
    verbose_name = _("Programme changes")  # its one model's page, in the admin's list of apps
    role_permissions = {
        Role.OPERATOR: ["common.view_configchange"],
        Role.FINANCE: ["common.view_configchange"],
        Role.APPROVER: ["common.view_configchange", "common.approve_configchange"],
    }

    def ready(self) -> None:
        # registering: users and roles in the admin; the field__any lookup
        from config.common import admin_auth, admin_governance, lookups  # noqa: F401
