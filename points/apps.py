from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PointsConfig(AppConfig):
    """The points ledger (accounts, entries, lots): filled in by the ledger issue."""

    name = "points"
    verbose_name = _("Points")
