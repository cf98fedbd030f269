"""Manual adjustments with maker-checker: small ones post at once, large ones wait for approval."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.common.errors import IdempotencyConflict
from members.models import Member
from points.errors import ApprovalError
from points.models import Account, AdjustmentRequest, Entry, PointType, Source
from points.services.common import (
    add_lot,
    apply_incoming,
    fingerprint,
    first_request_wins,
    lock_accounts,
    point_type_of,
    post_entry,
    record_taking,
    replay,
    require_key,
    save_account,
    take_spendable,
)

APPROVE_PERMISSION = "points.approve_adjustment"


def points_adjust(
    *,
    member: Member,
    point_type: PointType | str,
    amount: int,
    reason: str,
    actor: Any,
    idempotency_key: str,
    at: datetime.datetime | None = None,
) -> Entry | AdjustmentRequest:
    """Add or remove points by hand. Above the type's threshold it becomes a request to approve."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount == 0:
        raise ValidationError({"amount": _("Give a whole number of points, positive or negative, not zero.")})
    if not (reason or "").strip():
        raise ValidationError({"reason": _("A reason is required for a manual adjustment.")})
    if not getattr(actor, "pk", None):
        raise ValidationError({"actor": _("A manual adjustment needs the user who makes it.")})
    require_key(idempotency_key)
    point_type = point_type_of(point_type)
    at = at or timezone.now()
    if abs(amount) <= point_type.approval_threshold:
        with first_request_wins(idempotency_key), transaction.atomic():
            account = lock_accounts([member.pk], point_type)[member.pk]
            return _post_adjustment(account, amount, reason.strip(), actor, idempotency_key, at)
    return _request_adjustment(member, point_type, amount, reason.strip(), actor, idempotency_key, at)


def _request_adjustment(
    member: Member,
    point_type: PointType,
    amount: int,
    reason: str,
    actor: Any,
    key: str,
    at: datetime.datetime,
) -> AdjustmentRequest:
    request_fields = {"amount": amount, "reason": reason, "requested_by_id": actor.pk}
    try:
        with transaction.atomic():
            account, _created = Account.objects.get_or_create(member=member, point_type=point_type)
            request, created = AdjustmentRequest.objects.get_or_create(
                idempotency_key=key, defaults={"account": account, "requested_at": at, **request_fields}
            )
    except IntegrityError:
        request, created = AdjustmentRequest.objects.get(idempotency_key=key), False
    if not created and (
        request.account.member_id != member.pk
        or any(getattr(request, field) != value for field, value in request_fields.items())
    ):
        raise IdempotencyConflict(
            _("Idempotency key %(key)s was already used for a different request.") % {"key": key}, key=key
        )
    return request


def _post_adjustment(
    account: Account, amount: int, reason: str, actor: Any, key: str, at: datetime.datetime
) -> Entry:
    digest = fingerprint(op="adjust", account=account.pk, amount=amount, reason=reason)
    if done := replay(key, digest):
        return done
    common = {
        "kind": Entry.Kind.ADJUST,
        "amount": amount,
        "source": Source.OPERATOR,
        "source_ref": "",
        "key": key,
        "digest": digest,
        "actor": actor,
        "reason": reason,
        "at": at,
    }
    if amount > 0:
        repay = apply_incoming(account, amount, pending=False)
        entry = post_entry(account, **common)
        add_lot(account, entry, amount, repay=repay, at=at, available_from=at)
    else:
        taking = take_spendable(account, -amount, at)
        account.available += amount
        entry = post_entry(account, **common)
        record_taking(entry, taking)
    save_account(account, at)
    return entry


def adjustment_approve(
    *, request: AdjustmentRequest, approver: Any, at: datetime.datetime | None = None
) -> Entry:
    """A second person approves: the adjustment posts. The requester cannot approve their own."""
    if not approver.has_perm(APPROVE_PERMISSION):
        raise PermissionDenied(_("Only approvers can approve adjustments."))
    at = at or timezone.now()
    with transaction.atomic():
        account = lock_accounts([request.account.member_id], request.account.point_type)[
            request.account.member_id
        ]
        request = AdjustmentRequest.objects.select_for_update().get(pk=request.pk)
        _check_decidable(request, approver)
        entry = _post_adjustment(
            account, request.amount, request.reason, approver, f"adjustment:{request.pk}", at
        )
        request.status, request.entry = AdjustmentRequest.Status.POSTED, entry
        request.decided_by, request.decided_at = approver, at
        request.save(update_fields=["status", "entry", "decided_by", "decided_at"])
    return entry


def adjustment_reject(*, request: AdjustmentRequest, approver: Any, note: str = "") -> AdjustmentRequest:
    if not approver.has_perm(APPROVE_PERMISSION):
        raise PermissionDenied(_("Only approvers can reject adjustments."))
    with transaction.atomic():
        request = AdjustmentRequest.objects.select_for_update().get(pk=request.pk)
        _check_decidable(request, approver)
        request.status = AdjustmentRequest.Status.REJECTED
        request.decided_by, request.decided_at, request.decision_note = approver, timezone.now(), note
        request.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    return request


def _check_decidable(request: AdjustmentRequest, approver: Any) -> None:
    if request.status != AdjustmentRequest.Status.PENDING:
        raise ApprovalError(_("This request was already decided."))
    if request.requested_by_id == approver.pk:
        raise ApprovalError(_("A request must be approved by someone other than the person who made it."))
