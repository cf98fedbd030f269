from django.apps import AppConfig

from config.common.roles import Role


class CommonConfig(AppConfig):
    """Building blocks with no domain, below every app: an app so that Django finds its template
    tags (``{% load formats %}``) and its users-and-roles admin."""

    name = "config.common"
    label = "common"
    role_permissions = {
        Role.OPERATOR: ["common.view_configchange"],
        Role.FINANCE: ["common.view_configchange"],
        Role.APPROVER: ["common.view_configchange", "common.approve_configchange"],
    }

    def ready(self) -> None:
        # registering: users and roles in the admin; the field__any lookup
        from config.common import admin_auth, admin_governance, lookups  # noqa: F401
