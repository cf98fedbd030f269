from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from config.common.roles import Role

_READ = [
    "benefits.view_benefit",
    "benefits.view_entitlement",
    "benefits.view_reward",
    "benefits.view_coupon",
    "benefits.view_couponredemption",
    "benefits.view_redemption",
]


class BenefitsConfig(AppConfig):
    """Benefits and the tiers' and plans' entitlements, coupons and the rewards catalogue."""

    name = "benefits"
    verbose_name = _("Benefits")
    demo_seed = "benefits.demo.seed"  # demo data for `manage.py seed_demo` (members.demo.DemoRun)

    role_permissions = {
        Role.OPERATOR: [
            *_READ,
            "benefits.add_benefit",
            "benefits.change_benefit",
            "benefits.add_entitlement",
            "benefits.change_entitlement",
            "benefits.delete_entitlement",
            "benefits.add_reward",
            "benefits.change_reward",
            "benefits.change_coupon",  # void
            "benefits.change_redemption",  # the fulfilment queue: ship, deliver, cancel
        ],
        # redeeming includes undoing their stores' redemptions within the benefit's window
        Role.STORE_STAFF: [
            "benefits.view_coupon",
            "benefits.view_couponredemption",
            "benefits.redeem_coupon",
        ],
        Role.FINANCE: _READ,
        Role.APPROVER: _READ,
    }

    def ready(self) -> None:
        from benefits.models import Entitlement, Reward
        from config.common.governance import govern

        govern(Reward, fields=["points_price"])  # its cost; stock and dates are the shop's to run
        govern(Entitlement)  # what a tier or a paid plan gives, edited on their pages too
        from benefits.legacy import COUPON_FILE
        from members.imports.legacy import legacy_register

        legacy_register(COUPON_FILE)
        from benefits.merging import benefits_merge
        from members.oneid.services import MOVED_LABELS, register_step

        register_step("coupons", _("Coupons"), benefits_merge)
        MOVED_LABELS.setdefault("redemptions", _("Redemptions"))
        from benefits.privacy import coupons_of, redemptions_erase, redemptions_of
        from members.privacy.exports import PERSONAL_DATA
        from members.privacy.services import ERASURE_STEPS

        for section in (("coupons", coupons_of), ("redemptions", redemptions_of)):
            if section not in PERSONAL_DATA:
                PERSONAL_DATA.append(section)
        if redemptions_erase not in ERASURE_STEPS:
            ERASURE_STEPS.append(redemptions_erase)
