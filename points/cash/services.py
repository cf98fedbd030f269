"""Points as cash at the till: hold, capture with the purchase, release (the till, an operator,
or the job once the hold's time has passed).

- **Hold** (``hold_create``): under the account's lock the rule is applied to the basket
  (``points.cash.rules``: the quote the till was given), then the points are spent as by
  ``points_spend`` (a ``spend`` entry, soonest-expiring lots first, allocations), keyed
  ``cash:hold:<hold id>``. Held points are gone from the spendable balance at once: two tills
  holding the same points take turns on the account, the second finds what the first left.
- **Capture** (``purchase_record_with_hold``): the purchase is recorded and the hold marked as
  paying it, in one transaction under the hold's lock. No entry: the points left when held.
- **Release** (``hold_release``, ``holds_release_expired``): a ``refund`` entry of the whole hold
  (key ``cash:release:<hold id>``), its points back in one lot per expiry date they had.

Lock order: the hold row, then the account (``lock_accounts``), as a reward's row before its
account; the purchase path locks the hold before its member, then the member before accounts.
A capture and a release of one hold take turns on the hold's row: exactly one of them wins.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.common.errors import BusinessRuleError
from config.common.states import transition
from config.common.validation import FieldErrors
from members.errors import MemberClosed
from members.models import Member
from members.purchases.baskets import Basket
from members.purchases.models import Purchase
from members.purchases.services import purchase_record
from points.cash.errors import (
    BelowMinimumBalance,
    CashUnavailable,
    HoldClosed,
    HoldExpired,
    HoldMismatch,
    NotAStep,
    OverCashLimit,
)
from points.cash.models import Hold
from points.cash.rules import Quote, cash_quote
from points.cash.selectors import cash_rule_of, spendable_points
from points.errors import InsufficientPoints, NotRedeemable
from points.models import Account, Entry, Lot, LotAllocation, PointType, Source
from points.services.common import (
    add_lot,
    apply_incoming,
    fingerprint,
    key_conflict,
    lock_accounts,
    point_type_of,
    post_entry,
    record_taking,
    require_key,
    require_positive,
    save_account,
    take_spendable,
)


def hold_create(
    *,
    member: Member,
    points: int,
    basket: Basket,
    idempotency_key: str,
    point_type: PointType | str = "points",
    partner: Any = None,
    reference: str = "",
    actor: Any = None,
    at: datetime.datetime | None = None,
) -> Hold:
    """Hold ``points`` of the member's for the basket, until the rule's hold time has passed.

    Refused, with nothing held, when the rule does not let the basket take them
    (``cash_unavailable``, ``below_min_balance``, ``points_step``, ``over_cash_limit``) or the
    member has not got them (``insufficient_points``). The same key again returns the first hold;
    with another request it is a conflict.
    """
    require_positive(points, "points")
    require_key(idempotency_key)
    point_type = point_type_of(point_type)
    if not point_type.redeemable:
        raise NotRedeemable(_("%(type)s cannot be spent.") % {"type": point_type.name}, field="point_type")
    at = at or timezone.now()
    digest = fingerprint(
        op="hold", member=member.pk, type=point_type.code, points=points, amount=str(basket.amount),
        channel=basket.channel, store=basket.store_id, partner=getattr(partner, "pk", None),
        lines=[(line.sku, line.category, str(line.amount)) for line in basket.lines], reference=reference,
    )  # fmt: skip
    rule, store_ids = cash_rule_of(point_type)
    try:
        with transaction.atomic():
            account = lock_accounts([member.pk], point_type)[member.pk]
            if done := Hold.objects.filter(idempotency_key=idempotency_key).first():
                if done.fingerprint != digest:
                    raise key_conflict(idempotency_key)
                return done
            quote = cash_quote(
                rule, point_type, basket, available=spendable_points(account, at), store_ids=store_ids,
                member_active=member.status == Member.Status.ACTIVE,
            )  # fmt: skip
            _check(quote, points)
            assert rule is not None  # _check refused otherwise
            taking = take_spendable(account, points, at)  # every read before the first write
            hold = Hold.objects.create(
                member=member, point_type=point_type, partner=partner, store_id=basket.store_id,
                channel=basket.channel, reference=reference, points=points, value=quote.value_of(points),
                created_at=at, expires_at=at + datetime.timedelta(minutes=rule.hold_minutes),
                idempotency_key=idempotency_key, fingerprint=digest, actor=_user(actor),
            )  # fmt: skip
            account.available -= points
            account.spent += points
            hold.entry = post_entry(
                account, kind=Entry.Kind.SPEND, amount=-points, source=Source.PURCHASE,
                source_ref=f"hold:{hold.pk}", key=f"cash:hold:{hold.pk}", digest=digest, actor=actor,
                reason="", at=at,
            )  # fmt: skip
            record_taking(hold.entry, taking)
            save_account(account, at)
            hold.save(update_fields=["entry"])
    except IntegrityError:
        # the same key, taken at the same moment by a request for another member (another lock)
        if Hold.objects.filter(idempotency_key=idempotency_key).exists():
            raise key_conflict(idempotency_key) from None
        raise
    return hold


def _user(actor: Any) -> Any:
    return actor if getattr(actor, "pk", None) else None


def _check(quote: Quote, points: int) -> None:
    """Refuse a hold the quote does not allow, with the reason the till can show."""
    if quote.refusal:
        errors: dict[str, type[BusinessRuleError]] = {
            "below_min_balance": BelowMinimumBalance,
            "member_closed": MemberClosed,
        }
        raise errors.get(quote.refusal, CashUnavailable)(quote.reasons[0].message)
    if points % quote.step_points:
        raise NotAStep(
            _("Points pay in steps of %(step)d (%(value)s CNY).")
            % {"step": quote.step_points, "value": quote.step_value},
            field="points",
            step=quote.step_points,
        )
    if points > quote.available:
        raise InsufficientPoints(
            _("Not enough points: %(wanted)d wanted, %(have)d available.")
            % {"wanted": points, "have": quote.available},
            wanted=points,
            available=quote.available,
            field="points",
        )
    if points > quote.max_points:
        raise OverCashLimit(
            _("At most %(max)d points may pay for this basket.") % {"max": quote.max_points},
            field="points",
            max_points=quote.max_points,
        )


def hold_release(
    *, hold: Hold, why: str = Hold.Why.TILL, actor: Any = None, at: datetime.datetime | None = None
) -> Hold:
    """Give a hold's points back, once: a released hold is returned as it is; a captured one is
    ``hold_closed`` (its purchase's refunds give points back)."""
    at = at or timezone.now()
    with transaction.atomic():
        hold = Hold.objects.select_for_update(of=("self",)).select_related("point_type").get(pk=hold.pk)
        if hold.status == Hold.Status.RELEASED:
            return hold
        _release(hold, why, actor, at)
    return hold


def _release(hold: Hold, why: str, actor: Any, at: datetime.datetime) -> None:
    """Release the locked ``hold``: a refund entry of all it took, in lots with the dates it had."""
    transition(
        hold,
        Hold.Status.RELEASED,
        table=Hold.MOVES,
        refused=HoldClosed,
        message=_("Hold %(id)d was captured: refund its purchase instead.") % {"id": hold.pk},
    )
    account = lock_accounts([hold.member_id], hold.point_type)[hold.member_id]
    words: dict[str, str] = {Hold.Why.TILL: _("released by the till"), Hold.Why.EXPIRED: _("expired")}
    reason = _("Points as cash: hold %(id)d %(why)s") % {
        "id": hold.pk,
        "why": words.get(why, _("released by an operator")),
    }
    hold.release_entry = give_back(
        account, hold, hold.points, held_parts([hold])[hold.pk],
        key=f"cash:release:{hold.pk}", reason=reason, actor=actor, at=at,
    )  # fmt: skip
    hold.released_at = at
    hold.release_reason = why
    hold.save(update_fields=["status", "released_at", "release_reason", "release_entry"])


def holds_release_expired(*, now: datetime.datetime | None = None, chunk: int = 500) -> int:
    """The job: holds past their time that no till captured or released are released (reason
    ``expired``). Each in its own transaction under its row's lock; a hold captured meanwhile is
    left alone. Safe to run twice or in two workers. Returns holds released."""
    now = now or timezone.now()
    done, after = 0, 0
    while True:
        due = list(
            Hold.objects.filter(status=Hold.Status.ACTIVE, expires_at__lte=now, pk__gt=after)
            .order_by("pk")
            .values_list("pk", flat=True)[:chunk]
        )
        if not due:
            return done
        for pk in due:
            with transaction.atomic():
                hold = Hold.objects.select_for_update(of=("self",)).select_related("point_type").get(pk=pk)
                if hold.status == Hold.Status.ACTIVE and hold.expires_at <= now:
                    _release(hold, Hold.Why.EXPIRED, None, now)
                    done += 1
        after = due[-1]


def purchase_record_with_hold(
    *, hold: Hold, points_amount: Decimal | None = None, now: datetime.datetime | None = None, **purchase: Any
) -> tuple[Purchase, bool]:
    """``purchase_record`` of a purchase paid partly with the held points, capturing the hold in
    the same transaction. ``points_amount`` defaults to the hold's value and must equal it.

    Refused when the hold is another member's or partner's, for another store or channel
    (``hold_mismatch``), past its time (``hold_expired``), or captured by another purchase or
    released (``hold_closed``). The same purchase sent again returns it (its hold stays captured).
    """
    now = now or timezone.now()
    member: Member = purchase["member"]
    with transaction.atomic():
        hold = Hold.objects.select_for_update(of=("self",)).select_related("partner").get(pk=hold.pk)
        _same_sale(hold, member, points_amount, purchase)
        if hold.status == Hold.Status.CAPTURED:
            done = Purchase.objects.get(pk=hold.purchase_id or 0)
            if (done.source, done.order_number) != (
                purchase["source"].strip(),
                purchase["order_number"].strip(),
            ):
                raise HoldClosed(
                    _("Hold %(id)d paid order %(order)s already.")
                    % {"id": hold.pk, "order": done.order_number},
                    field="points_hold",
                )
            return purchase_record(**purchase, points_amount=hold.value, now=now)
        if hold.status == Hold.Status.RELEASED:
            raise HoldClosed(_("Hold %(id)d was released.") % {"id": hold.pk}, field="points_hold")
        if now >= hold.expires_at:
            raise HoldExpired(
                _("Hold %(id)d expired at %(when)s: hold the points again.")
                % {"id": hold.pk, "when": f"{timezone.localtime(hold.expires_at):%H:%M:%S}"},
                field="points_hold",
            )
        recorded, created = purchase_record(**purchase, points_amount=hold.value, now=now)
        if not created:
            FieldErrors.single(
                "order_number", _("This order was recorded before, without these points."), code="conflict"
            )
        transition(hold, Hold.Status.CAPTURED, table=Hold.MOVES, refused=HoldClosed)
        hold.captured_at = now
        hold.purchase = recorded
        hold.save(update_fields=["status", "captured_at", "purchase"])
    return recorded, created


def _same_sale(hold: Hold, member: Member, points_amount: Decimal | None, purchase: dict[str, Any]) -> None:
    """The purchase must be the sale the points were held for."""
    mismatch = None
    if hold.member_id != member.pk:
        mismatch = ("member_number", _("The hold is another member's."))
    elif hold.partner is not None and hold.partner.source != purchase["source"]:
        mismatch = ("points_hold", _("The hold is another partner's."))
    elif points_amount is not None and points_amount != hold.value:
        mismatch = (
            "points_amount",
            _("The hold pays %(value)s CNY, not %(amount)s.")
            % {"value": hold.value, "amount": points_amount},
        )
    elif getattr(purchase.get("store"), "pk", None) != hold.store_id:
        mismatch = ("store", _("The points were held at another store."))
    elif purchase["channel"] != hold.channel:
        mismatch = ("channel", _("The points were held on another channel."))
    if mismatch:
        raise HoldMismatch(mismatch[1], field=mismatch[0])


# --- giving points back -----------------------------------------------------------------------------

#: (expiry, points) the hold took, per expiry date
Parts = list[tuple[datetime.datetime | None, int]]


def held_parts(holds: Iterable[Hold]) -> dict[int, Parts]:
    """{hold id: [(expiry date, points)]} of the lots each hold's spend took, latest expiry first
    (never-expiring points first of all): the order in which they are given back."""
    by_entry = {hold.entry_id: hold.pk for hold in holds}
    parts: dict[int, dict[datetime.datetime | None, int]] = {pk: {} for pk in by_entry.values()}
    rows = LotAllocation.objects.filter(entry_id__in=list(by_entry)).values_list(
        "entry_id", "lot__expires_at", "amount"
    )
    for entry_id, expires, amount in rows:
        dates = parts[by_entry[entry_id]]
        dates[expires] = dates.get(expires, 0) + amount
    return {pk: sorted(dates.items(), key=_latest_first) for pk, dates in parts.items()}


def _latest_first(part: tuple[datetime.datetime | None, int]) -> tuple[int, float]:
    expires = part[0]
    return (0, 0.0) if expires is None else (1, -expires.timestamp())


def give_back(
    account: Account, hold: Hold, points: int, parts: Parts, *, key: str, reason: str, actor: Any,
    at: datetime.datetime,
) -> Entry:  # fmt: skip
    """A ``refund`` entry of ``points`` of the hold on its locked account, into one lot per expiry
    date, taken from ``parts`` in their order. Points whose date has passed come back in a lot of
    that date and expire at the next expiry run (as a cancelled redemption's do); spending skips
    them meanwhile. The first pay a debt the member owes."""
    repay = apply_incoming(account, points, pending=False)
    entry = post_entry(
        account, kind=Entry.Kind.REFUND, amount=points, source=Source.PURCHASE, source_ref=f"hold:{hold.pk}",
        key=key, digest=fingerprint(op="cash-back", hold=hold.pk, key=key, points=points), actor=actor,
        reason=reason[:200], at=at,
    )  # fmt: skip
    left = points
    for expires, part in parts:
        part = min(part, left)
        if part <= 0:
            continue  # this date was given back whole already
        paid = min(repay, part)
        repay -= paid
        left -= part
        add_lot(account, entry, part, repay=paid, at=at, available_from=at, expires=expires)
    assert left == 0, "a hold gives back at most what it took"
    save_account(account, at)
    return entry


def lots_given_back(entries: Iterable[Entry | int]) -> dict[int, Parts]:
    """{entry id: [(expiry date, points)]} of the lots given-back entries made."""
    ids: list[int] = [e if isinstance(e, int) else e.pk for e in entries]
    found: dict[int, Parts] = {pk: [] for pk in ids}
    for entry_id, expires, amount in Lot.objects.filter(entry_id__in=ids).values_list(
        "entry_id", "expires_at", "amount"
    ):
        found[entry_id].append((expires, amount))
    return found
