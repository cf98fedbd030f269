from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from config.common.roles import Role

_READ = ["segments.view_segment", "segments.view_condition"]
_WRITE = [
    "segments.add_segment",
    "segments.change_segment",
    "segments.delete_segment",
    "segments.add_condition",
    "segments.change_condition",
    "segments.delete_condition",
]


class SegmentsConfig(AppConfig):
    """Segments: members found by conditions on every app's data (tier, RFM, points, purchases,
    profile, consents), so it sits at the top, inside campaigns."""

    name = "campaigns.segments"
    label = "segments"
    verbose_name = _("Segments")

    role_permissions = {
        Role.OPERATOR: [*_READ, *_WRITE],
        Role.APPROVER: _READ,
    }
