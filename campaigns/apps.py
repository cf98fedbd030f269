from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    """Campaigns and the earning pipeline: filled in by the campaigns issue."""

    name = "campaigns"
    verbose_name = _("Campaigns")
