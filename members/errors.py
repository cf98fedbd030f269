"""Business-rule refusals of the member domain (see ``config.common.errors``).

Malformed input stays a ``ValidationError`` naming the field; these are well-formed requests a
rule of the programme refuses. ``field`` (in ``details``) names the input the rule is about, so
the API can say which field, as it did when these were validation codes.
"""

from __future__ import annotations

from config.common.errors import BusinessRuleError


class MemberClosed(BusinessRuleError):
    """The member is not active: nothing new is issued to or recorded for them."""

    code = "member_closed"


class MemberFrozen(BusinessRuleError):
    """The member is frozen (suspected abuse, a dispute): they neither spend points nor receive
    them until an operator unfreezes them; what they earn meanwhile waits for review."""

    code = "member_frozen"


class SpendingBlocked(BusinessRuleError):
    """A risk case against the member blocks spends, transfers and reward redemptions until an
    approver decides it; the member still earns (what they earn may be held for review)."""

    code = "spending_blocked"


class MemberMerged(BusinessRuleError):
    """The member was merged into another (OneID): ``merged_into`` names the one to use now."""

    code = "member_merged"
