from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from config.common.roles import Role


class OneIDConfig(AppConfig):
    """One person, one member: duplicate candidates and merges."""

    name = "members.oneid"
    label = "oneid"
    verbose_name = _("OneID")

    role_permissions = {
        Role.OPERATOR: [
            "oneid.view_duplicatecandidate",
            "oneid.change_duplicatecandidate",
            "oneid.view_membermerge",
            "oneid.add_membermerge",
        ],
        Role.APPROVER: [
            "oneid.view_membermerge",
            "oneid.approve_membermerge",
        ],
    }
