"""Spending with the household pool, and refunding such a spend.

A spend by a member whose household lets them spend the pool uses their own spendable points
first; what they lack is drawn from the other members, the head first, then the others in the
order they joined, each member's soonest-expiring lots first, within the spender's monthly cap.
Each draw is a pair of ``pool`` entries (out of the giver's account, into the spender's, one lot
per expiry date it had, the lots saying from whom), then the spend takes the whole price from
the spender's account as any spend does. So every point stays traced: the spend's allocations
lead to the spender's pool lots, their entry to its pair on the giver, whose allocations lead to
the lots the giver earned. A draw moves no lifetime counter (as a transfer): the spend counts on
the spender's ``spent``.

Lock order: the household row, then every member's account in primary-key order (the same as
``points.services.common.lock_accounts``). The household lock makes a spend see the members and
rules a concurrent join, leave or dissolve leaves, never a mix.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Member
from points.errors import InsufficientPoints, NotRedeemable
from points.households.errors import PoolCapReached
from points.households.models import Household, HouseholdMembership, PoolDraw
from points.households.selectors import membership_of, pool_drawn_in_month
from points.models import Account, Entry, Lot, PointType, Source
from points.services import points_spend
from points.services.common import (
    Taking,
    add_lot,
    apply_incoming,
    fingerprint,
    first_request_wins,
    lock_accounts,
    point_type_of,
    post_entry,
    record_taking,
    replay,
    require_active,
    require_key,
    require_positive,
    save_account,
    spendable_lots,
    take,
    take_spendable,
)
from points.services.ledger import refund_spend


def household_spend(
    *,
    member: Member,
    point_type: PointType | str,
    amount: int,
    source: str = Source.REDEMPTION,
    source_ref: str = "",
    idempotency_key: str,
    actor: Any = None,
    reason: str = "",
    at: datetime.datetime | None = None,
) -> Entry:
    """``points_spend``, drawing on the household pool when the member may and needs to.

    The returned entry is the spend of the whole ``amount`` on the member's account, as
    ``points_spend`` returns it (the same key and fingerprint: either recognises the other's
    retry). A member outside a household, or whose household does not let them spend the pool,
    spends alone.
    """
    require_positive(amount)
    require_key(idempotency_key)
    point_type = point_type_of(point_type)
    if not point_type.redeemable:
        raise NotRedeemable(_("%(type)s cannot be spent.") % {"type": point_type.name})
    at = at or timezone.now()
    alone = {
        "member": member, "point_type": point_type, "amount": amount, "source": source,
        "source_ref": source_ref, "idempotency_key": idempotency_key, "actor": actor, "reason": reason,
        "at": at,
    }  # fmt: skip
    membership = membership_of(member)
    if membership is None or not membership.household.may_spend_pool(membership):
        return points_spend(**alone)
    digest = fingerprint(
        op="spend", member=member.pk, type=point_type.code, amount=amount, source=source, ref=source_ref
    )
    with first_request_wins(idempotency_key), transaction.atomic():
        household = Household.objects.select_for_update().get(pk=membership.household_id)
        members = list(household.memberships.filter(left_at__isnull=True).select_related("member"))
        mine = next((m for m in members if m.member_id == member.pk), None)
        if mine is None or not household.may_spend_pool(mine):
            return points_spend(**alone)  # left, or the rules changed, since the look-up above
        givers = _givers(members, mine)
        accounts = lock_accounts([member.pk, *(g.pk for g in givers)], point_type)
        if done := replay(idempotency_key, digest):
            return done
        require_active(member.pk)  # a frozen giver is not among the givers (_givers)
        own = accounts[member.pk]
        spendable = _spendable(accounts.values(), at)
        short = amount - spendable.get(own.pk, 0)
        draws: list[tuple[Member, int, Entry, Entry]] = []
        if short > 0 and own.debt == 0:
            _check_pool(household, member, short, [spendable.get(accounts[g.pk].pk, 0) for g in givers], at)
            for giver in givers:
                giver_account = accounts[giver.pk]
                part = min(short, spendable.get(giver_account.pk, 0))
                if part > 0:
                    out, into = _draw(
                        giver_account, own, part, giver, member, idempotency_key, source_ref, at, actor
                    )
                    draws.append((giver, part, out, into))
                    short -= part
        taking = take_spendable(own, amount, at)  # the pool's points are the spender's now
        own.available -= amount
        own.spent += amount
        spend = post_entry(
            own, kind=Entry.Kind.SPEND, amount=-amount, source=source, source_ref=source_ref,
            key=idempotency_key, digest=digest, actor=actor, reason=reason, at=at,
        )  # fmt: skip
        record_taking(spend, taking)
        touched = [own, *(accounts[giver.pk] for giver, _part, _out, _into in draws)]
        for account in sorted(touched, key=lambda a: a.pk):
            save_account(account, at)
        PoolDraw.objects.bulk_create(
            PoolDraw(
                household=household,
                spender=member,
                giver=giver,
                points=part,
                spend=spend,
                out_entry=out,
                in_entry=into,
                created_at=at,
            )
            for giver, part, out, into in draws
        )
    return spend


def _givers(members: list[HouseholdMembership], spender: HouseholdMembership) -> list[Member]:
    """Whose points the pool holds, in draw order: the head first, then by joining. Closed or
    frozen members' points stay out of it (a frozen account spends nothing)."""
    ordered = sorted(members, key=lambda m: (m.role != HouseholdMembership.Role.HEAD, m.joined_at, m.pk))
    return [
        m.member
        for m in ordered
        if m.pk != spender.pk and m.member.status == Member.Status.ACTIVE and m.member.merged_into_id is None
    ]


def _spendable(accounts: Iterable[Account], at: datetime.datetime) -> dict[int, int]:
    """{account id: available, unexpired points in lots}: what ``take_spendable`` could take."""
    rows = (
        Lot.objects.filter(account__in=list(accounts), status=Lot.Status.AVAILABLE, remaining__gt=0)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at))
        .values("account")
        .annotate(total=Sum("remaining"))
        .values_list("account", "total")
    )
    return dict(rows)


def _check_pool(
    household: Household, spender: Member, short: int, pool: list[int], at: datetime.datetime
) -> None:
    """Refuse (nothing changed) a spend the pool cannot cover, or only beyond the monthly cap."""
    if household.monthly_cap:
        left = max(household.monthly_cap - pool_drawn_in_month(spender.pk, at), 0)
        if short > left:
            raise PoolCapReached(
                _("Pool cap %(cap)d a month per member: %(left)d left this month, %(short)d needed.")
                % {"cap": household.monthly_cap, "left": left, "short": short},
                wanted=short,
                available=left,
            )
    if short > sum(pool):
        raise InsufficientPoints(
            _("Not enough points, with the household pool: %(short)d more wanted, %(have)d in the pool.")
            % {"short": short, "have": sum(pool)},
            wanted=short,
            available=sum(pool),
        )


def _draw(
    giver_account: Account,
    spender_account: Account,
    part: int,
    giver: Member,
    spender: Member,
    key: str,
    source_ref: str,
    at: datetime.datetime,
    actor: Any,
) -> tuple[Entry, Entry]:
    """Move ``part`` of the giver's spendable points to the spender: a pair of ``pool`` entries."""
    taking = take(spendable_lots(giver_account, at), part)
    giver_account.available -= part
    reason = (_("Household pool: %(ref)s") % {"ref": source_ref})[:200]
    digest = fingerprint(op="pool", spend=key, giver=giver.pk, spender=spender.pk, amount=part)
    common = {"source": Source.SYSTEM, "digest": digest, "actor": actor, "reason": reason, "at": at}
    out = post_entry(
        giver_account, kind=Entry.Kind.POOL, amount=-part, source_ref=f"to:{spender.member_number}",
        key=f"{key}:pool:{giver.pk}:out", **common,
    )  # fmt: skip
    record_taking(out, taking)
    apply_incoming(spender_account, part, pending=False)  # no debt: a member who owes draws nothing
    into = post_entry(
        spender_account, kind=Entry.Kind.POOL, amount=part, source_ref=f"from:{giver.member_number}",
        key=f"{key}:pool:{giver.pk}:in", **common,
    )  # fmt: skip
    receive_by_expiry(spender_account, into, taking.parts, repay=0, at=at)
    return out, into


def receive_by_expiry(
    account: Account, entry: Entry, parts: Iterable[tuple[Lot, int]], *, repay: int, at: datetime.datetime
) -> list[Lot]:
    """One new lot per expiry date among ``parts``, available at once; the first pay ``repay``."""
    by_expiry: dict[datetime.datetime | None, int] = {}
    for lot, part in parts:
        by_expiry[lot.expires_at] = by_expiry.get(lot.expires_at, 0) + part
    lots = []
    for expires, part in by_expiry.items():
        paid = min(repay, part)
        repay -= paid
        lots.append(add_lot(account, entry, part, repay=paid, at=at, available_from=at, expires=expires))
    return lots


def household_refund(
    *, spend: Entry, actor: Any = None, reason: str = "", at: datetime.datetime | None = None
) -> Entry:
    """``points_refund`` for any spend, one that drew on a household pool included: the points go back
    to the accounts they came from, with the expiry dates they had, once.

    The refund entry gives the spender the whole price (as ``points_refund``, same key); the
    pool's share passes on at once to each giver as a pair of ``pool`` entries, whether or not
    they are still in the household. The draws no longer count towards the spender's cap.
    """
    draws = list(PoolDraw.objects.filter(spend=spend).select_related("spender", "giver", "in_entry"))
    if not draws:
        if spend.kind != Entry.Kind.SPEND:
            raise ValidationError({"spend": _("Only a spend can be refunded.")})
        return refund_spend(spend=spend, actor=actor, reason=reason, at=at)
    at = at or timezone.now()
    key = f"refund:{spend.pk}"
    digest = fingerprint(op="refund", spend=spend.pk)
    spender = draws[0].spender
    point_type = PointType.objects.get(pk=spend.account.point_type_id)
    with first_request_wins(key), transaction.atomic():
        accounts = lock_accounts([spender.pk, *(d.giver_id for d in draws)], point_type)
        if done := replay(key, digest):
            return done
        own = accounts[spender.pk]
        amount = -spend.amount
        pooled = sum(d.points for d in draws)
        # the spender's debt is paid from their own share only: the givers' points go back whole
        repay = apply_incoming(own, amount - pooled, pending=False) if amount > pooled else 0
        own.available += pooled
        refund = post_entry(
            own, kind=Entry.Kind.REFUND, amount=amount, source=spend.source, source_ref=spend.source_ref,
            key=key, digest=digest, actor=actor, reason=reason, at=at,
        )  # fmt: skip
        by_draw: dict[int, list[tuple[Lot, int]]] = {d.in_entry_id: [] for d in draws}
        own_parts: list[tuple[Lot, int]] = []
        for allocation in spend.allocations.select_related("lot"):
            part = (allocation.lot, allocation.amount)
            by_draw.get(allocation.lot.entry_id, own_parts).append(part)
        receive_by_expiry(own, refund, own_parts, repay=repay, at=at)
        for draw in draws:
            _give_back(
                draw, own, accounts[draw.giver_id], refund, by_draw[draw.in_entry_id], actor, reason, at
            )
        for account in sorted(accounts.values(), key=lambda a: a.pk):
            save_account(account, at)
    return refund


def _give_back(
    draw: PoolDraw,
    own: Account,
    giver_account: Account,
    refund: Entry,
    parts: list[tuple[Lot, int]],
    actor: Any,
    reason: str,
    at: datetime.datetime,
) -> None:
    lots = receive_by_expiry(own, refund, parts, repay=0, at=at)
    taking: Taking = take(lots, draw.points)
    own.available -= draw.points
    digest = fingerprint(op="pool-return", draw=draw.pk)
    why = (_("Household pool returned: refund of %(ref)s") % {"ref": refund.source_ref} + f" {reason}")[:200]
    common = {"source": Source.SYSTEM, "digest": digest, "actor": actor, "reason": why.strip(), "at": at}
    out = post_entry(
        own, kind=Entry.Kind.POOL, amount=-draw.points, source_ref=f"to:{draw.giver.member_number}",
        key=f"refund:{refund.pk}:pool:{draw.pk}:out", **common,
    )  # fmt: skip
    record_taking(out, taking)
    repay = apply_incoming(giver_account, draw.points, pending=False)
    into = post_entry(
        giver_account, kind=Entry.Kind.POOL, amount=draw.points,
        source_ref=f"from:{draw.spender.member_number}", key=f"refund:{refund.pk}:pool:{draw.pk}:in",
        **common,
    )  # fmt: skip
    receive_by_expiry(giver_account, into, taking.parts, repay=repay, at=at)
    draw.returned_at = at
    draw.return_entry = into
    draw.save(update_fields=["returned_at", "return_entry"])
