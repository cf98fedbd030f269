from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BenefitsConfig(AppConfig):
    """Benefits, coupons and the rewards catalogue: filled in by the tiers issue."""

    name = "benefits"
    verbose_name = _("Benefits")
