from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

from config.common.roles import Role

#: Purchases are read and exported, never edited in the admin (facts come from their sources).
_READ = [
    "purchases.view_purchase",
    "purchases.view_purchaseline",
    "purchases.view_refund",
    "purchases.export_purchase",
]


class PurchasesConfig(AppConfig):
    """What members did: purchases, refunds and behaviour events."""

    name = "members.purchases"
    label = "purchases"
    verbose_name = _("Purchases and behaviour")

    role_permissions = {Role.OPERATOR: _READ, Role.FINANCE: _READ}

    def ready(self) -> None:
        from members.purchases.defaults import event_types_ensure

        # a new database starts with the programme's defaults (see docs/architecture.md)
        post_migrate.connect(event_types_ensure, sender=self, dispatch_uid="purchases.defaults")
