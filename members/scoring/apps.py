from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from config.common.roles import Role

_READ = ["scoring.view_memberscore", "scoring.view_scoringsettings"]


class ScoringConfig(AppConfig):
    """Each member's RFM scores and segment and lifecycle stage, scored nightly in one pass."""

    name = "members.scoring"
    label = "scoring"
    verbose_name = _("Member scoring")

    role_permissions = {
        Role.OPERATOR: [*_READ, "scoring.change_scoringsettings"],
        Role.FINANCE: _READ,
        Role.APPROVER: _READ,
    }
