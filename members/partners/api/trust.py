"""The trust rules as the API answers them: a third-party partner spends a member's points only
during the visit a member code opened (docs/api.md "Trust")."""

from __future__ import annotations

from members.models import Member
from members.partners.api.errors import APIError
from members.partners.codes import TrustRefused, member_code_required
from members.partners.models import Partner
from members.partners.selectors import partner_may_spend


def refusal(exc: TrustRefused) -> APIError:
    """A trust rule's refusal as the API answers it: 403, naming the field when there is one."""
    return APIError(
        exc.message, code=exc.code, status_code=403, fields={exc.field: [exc.message]} if exc.field else None
    )


def require_visit(partner: Partner, member: Member) -> None:
    """Spending a member's points: a third-party partner needs the visit a member code opened
    (403 ``member_code_required``); a link from an earlier visit is not enough."""
    if not partner_may_spend(partner, member):
        raise refusal(member_code_required())
