from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from config.common.roles import Role

_MODELS = ["segment", "condition", "tagrule"]
_READ = [f"segments.view_{model}" for model in _MODELS]
_WRITE = [f"segments.{action}_{model}" for model in _MODELS for action in ("add", "change", "delete")]


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

    def ready(self) -> None:
        # members' import framework fills static segments through us (it cannot import campaigns)
        from campaigns.segments.imports import SEGMENT_TARGET
        from members.imports.models import ImportProfile
        from members.imports.targets import TARGETS

        TARGETS.setdefault(ImportProfile.Kind.SEGMENT, SEGMENT_TARGET)
