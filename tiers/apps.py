from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

from config.common.roles import Role

_READ = [
    "tiers.view_tier",
    "tiers.view_tierpolicy",
    "tiers.view_membertier",
    "tiers.view_tierchange",
    "tiers.view_plan",
    "tiers.view_subscription",
    "tiers.view_planorder",
]


class TiersConfig(AppConfig):
    """Tiers, the tier policy, members' tier status and its history, paid plans, their orders and
    subscriptions."""

    name = "tiers"
    verbose_name = _("Tiers")
    demo_seed = "tiers.demo.seed"  # demo data for `manage.py seed_demo` (members.demo.DemoRun)

    role_permissions = {
        Role.OPERATOR: [
            *_READ,
            "tiers.add_tier",
            "tiers.change_tier",
            "tiers.delete_tier",
            "tiers.change_tierpolicy",
            "tiers.change_membertier",  # manual overrides
            "tiers.add_plan",
            "tiers.change_plan",
            "tiers.add_subscription",  # a payment recorded by hand
            "tiers.change_subscription",  # stop renewing, end early with the refund
        ],
        Role.FINANCE: [*_READ, "tiers.view_deferred_revenue"],
        Role.APPROVER: _READ,
    }

    def ready(self) -> None:
        from config.common.governance import govern
        from tiers.models import Plan, Tier, TierPolicy
        from tiers.services import tier_save

        govern(Tier, save=lambda tier: tier_save(tier=tier))  # the ladder's order is checked there
        govern(TierPolicy)
        govern(Plan)
        from members.imports.legacy import legacy_register
        from tiers.legacy import TIERS

        legacy_register(TIERS)
        from tiers.defaults import ladder_ensure

        post_migrate.connect(ladder_ensure, sender=self, dispatch_uid="tiers.defaults")
        from members.oneid.services import APPROVAL_CHECKS, MOVED_LABELS, register_step
        from tiers.merging import tiers_merge, tiers_merge_needs_approval

        register_step("tier", _("Tier"), tiers_merge)
        MOVED_LABELS.setdefault("subscriptions", _("Paid plan subscriptions"))
        MOVED_LABELS.setdefault("plan_orders", _("Paid plan orders"))
        if tiers_merge_needs_approval not in APPROVAL_CHECKS:
            APPROVAL_CHECKS.append(tiers_merge_needs_approval)
        from members.privacy.exports import PERSONAL_DATA
        from tiers.privacy import subscriptions_of, tier_of

        for section in (("tier", tier_of), ("subscriptions", subscriptions_of)):
            if section not in PERSONAL_DATA:
                PERSONAL_DATA.append(section)
