"""Why a referral is refused (``config.common.errors``): stable codes the API answers (422) and
the import stores as a row's reason (``members/imports/reasons.py`` words them). ``field`` names
the input: the referral code, or the device id."""

from __future__ import annotations

from config.common.errors import BusinessRuleError


class ReferralRefused(BusinessRuleError):
    code = "referral_refused"


class ReferralCodeUnknown(ReferralRefused):
    """No member has this referral code."""

    code = "referral_unknown"


class ReferralTaken(ReferralRefused):
    """The member was referred already: one referrer per member."""

    code = "referral_taken"


class ReferrerClosed(ReferralRefused):
    """The code's member is closed or was merged into another: it refers nobody any more."""

    code = "referral_closed"


class SelfReferral(ReferralRefused):
    """The new member is the referrer: the same member, or a phone, identity or device of the
    referrer's (``via``: member, identity or device)."""

    code = "referral_self"
