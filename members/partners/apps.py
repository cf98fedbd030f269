from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PartnersConfig(AppConfig):
    """Partner systems of the API (the brand's POS and apps, third parties), their keys, the
    members they know, and the framework every app's endpoints are built on (``api/``)."""

    name = "members.partners"
    label = "partners"
    verbose_name = _("API partners")
