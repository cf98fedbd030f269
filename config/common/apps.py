from django.apps import AppConfig


class CommonConfig(AppConfig):
    """Building blocks with no domain, below every app: an app so that Django finds its template
    tags (``{% load formats %}``) and its users-and-roles admin."""

    name = "config.common"
    label = "common"

    def ready(self) -> None:
        # registering: users and roles in the admin; the field__any lookup
        from config.common import admin_auth, lookups  # noqa: F401
