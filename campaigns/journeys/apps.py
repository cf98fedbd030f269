from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from config.common.roles import Role

_MODELS = ["journey", "journeystep", "journeyentry"]
_READ = [f"journeys.view_{model}" for model in _MODELS]
_WRITE = [
    f"journeys.{action}_{model}" for model in ("journey", "journeystep") for action in ("add", "change")
]


class JourneysConfig(AppConfig):
    """Journeys (自动化营销): members who meet a trigger walk a series of steps (waits,
    conditions, messages, coupons, points, tags). They act through every app below, so they sit
    at the top, inside campaigns."""

    name = "campaigns.journeys"
    label = "journeys"
    verbose_name = _("Journeys")

    role_permissions = {
        Role.OPERATOR: [*_READ, *_WRITE],
        Role.APPROVER: [*_READ, "journeys.approve_journey"],
    }

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from campaigns.journeys import context, defaults

        context.register()
        post_migrate.connect(defaults.install, sender=self)
