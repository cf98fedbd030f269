"""The base of every business-rule refusal.

A service refuses a well-formed request that breaks a rule of the programme (not enough points,
a reward out of stock, a coupon already used) by raising a subclass of ``BusinessRuleError``
with a stable ``code``. Interfaces map it in one place each: the API to a 422 (409 for
``Conflict``) with the code (``members/partners/api/errors.py``), the admin to a message on the
form or the page (``config/common/admin.py``). Malformed input is a Django ``ValidationError``
naming the field, not one of these.
"""

from __future__ import annotations


class BusinessRuleError(Exception):
    code = "business_rule"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Conflict(BusinessRuleError):
    """The same number or idempotency key was used before for something else (API 409)."""

    code = "conflict"


class IdempotencyConflict(Conflict):
    """The key was used before for a different request."""

    code = "idempotency_conflict"
