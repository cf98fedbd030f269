from collections.abc import Iterable

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

from config.common.roles import Role

_READ = ["points.view_pointtype", "points.view_account", "points.view_entry", "points.view_lot"]


class PointsConfig(AppConfig):
    """The points ledger: accounts, append-only entries, lots, adjustments and liability."""

    name = "points"
    verbose_name = _("Points")
    demo_seed = "points.demo.seed"  # demo data for `manage.py seed_demo` (members.demo.DemoRun)

    role_permissions = {
        Role.OPERATOR: [
            *_READ,
            "points.export_entry",
            "points.adjust_account",
            "points.view_adjustmentrequest",
            "points.change_pointtype",
        ],
        Role.FINANCE: [
            *_READ,
            "points.export_entry",
            "points.view_liability",
            "points.view_adjustmentrequest",
        ],
        Role.APPROVER: [*_READ, "points.approve_adjustment", "points.view_adjustmentrequest"],
    }
    # The accounts list shows every store's members and balances; store staff read a member's
    # balances on the member page (the inline asks for the member, not for this permission).
    role_revoked_permissions = {Role.STORE_STAFF: ["points.view_account"]}

    def ready(self) -> None:
        from config.common.governance import govern
        from points.models import PointType

        govern(PointType)  # its value, expiry, return window and adjustment threshold
        from members.imports.legacy import legacy_register
        from points.legacy import BALANCES

        legacy_register(BALANCES)
        from points.defaults import point_types_ensure

        post_migrate.connect(point_types_ensure, sender=self, dispatch_uid="points.defaults")
        from members.imports.selectors import POINT_TYPE_NAMES

        if point_type_names not in POINT_TYPE_NAMES:
            POINT_TYPE_NAMES.append(point_type_names)
        from members.oneid.services import APPROVAL_CHECKS, register_step
        from points.services.merge import points_merge, points_merge_needs_approval

        register_step("points", _("Points"), points_merge)
        if points_merge_needs_approval not in APPROVAL_CHECKS:
            APPROVAL_CHECKS.append(points_merge_needs_approval)
        from members.privacy.exports import PERSONAL_DATA
        from points.privacy import accounts_of, entries_of

        for section in (("points_accounts", accounts_of), ("points_entries", entries_of)):
            if section not in PERSONAL_DATA:
                PERSONAL_DATA.append(section)


def point_type_names(codes: Iterable[str]) -> dict[str, str]:
    """{code: name} in the programme's order (积分 before 成长值), for pages of lower apps."""
    from points.models import PointType

    return dict(PointType.objects.filter(code__in=list(codes)).order_by("id").values_list("code", "name"))
