from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TiersConfig(AppConfig):
    """Tiers, tier policy and paid membership: filled in by the tiers issue."""

    name = "tiers"
    verbose_name = _("Tiers")
