from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from config.common.roles import Role

_READ = ["households.view_household", "households.view_householdmembership", "households.view_pooldraw"]


class HouseholdsConfig(AppConfig):
    """Households (家庭账户): members under a head who pool points or transfer them to the head."""

    name = "points.households"
    label = "households"
    verbose_name = _("Households")

    role_permissions = {
        Role.OPERATOR: [*_READ, "households.add_household", "households.change_household"],
        Role.FINANCE: _READ,
    }

    def ready(self) -> None:
        from members.oneid.services import register_step
        from points.households.merging import households_merge

        register_step("households", _("Households"), households_merge)
