from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from config.common.roles import Role


class ReferralsConfig(AppConfig):
    """Referrals (以老带新): members' referral codes and who referred whom."""

    name = "members.referrals"
    label = "referrals"
    verbose_name = _("Referrals")

    role_permissions = {
        Role.OPERATOR: ["referrals.view_referral"],
        # approvers check a referrer before approving its rewards; personal data stays masked
        Role.APPROVER: ["referrals.view_referral"],
    }

    def ready(self) -> None:
        from members.oneid.services import register_step
        from members.privacy.services import ERASED_LABELS, ERASURE_STEPS
        from members.referrals.services import referrals_erase, referrals_merge

        register_step("referrals", _("Referrals"), referrals_merge)
        if referrals_erase not in ERASURE_STEPS:
            ERASURE_STEPS.append(referrals_erase)
        ERASED_LABELS.setdefault("referrals", _("Devices and the referral's device"))
        from members.privacy.exports import PERSONAL_DATA
        from members.referrals.selectors import referrals_personal_data

        if ("referrals", referrals_personal_data) not in PERSONAL_DATA:
            PERSONAL_DATA.append(("referrals", referrals_personal_data))
