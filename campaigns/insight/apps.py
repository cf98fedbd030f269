from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from config.common.roles import Role

_PROGRAMME = ["insight.view_programme", "insight.view_insightsettings"]


class InsightConfig(AppConfig):
    """Programme insight: daily rollups of every app's facts, the pages that read them, and the
    finance roll-forward. It reads every app, so it sits at the top, inside campaigns."""

    name = "campaigns.insight"
    label = "insight"
    verbose_name = _("Insight")
    demo_seed = "campaigns.insight.demo.seed"  # demo data for `manage.py seed_demo` (members.demo.DemoRun)

    role_permissions = {
        Role.OPERATOR: [
            *_PROGRAMME,
            "insight.change_insightsettings",
            "insight.view_storesalesday",
            "insight.add_storesalesday",
            "insight.change_storesalesday",
        ],
        Role.FINANCE: [*_PROGRAMME, "insight.view_finance", "insight.view_storesalesday"],
        Role.APPROVER: _PROGRAMME,
        # their own stores' figures only: the pages narrow every number to the staff's stores
        Role.STORE_STAFF: ["insight.view_store"],
    }
