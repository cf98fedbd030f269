"""Coupons: issuing (one at a time, or a period's entitlements in bulk), redeeming at a store
(核销) against a basket (``benefits.baskets``), undoing a redemption, voiding and expiring.

A code is 16 characters from an alphabet without look-alikes (no 0/O, 1/I/L, U): about 79
random bits from ``secrets``, so codes cannot be guessed or enumerated, and staff can type
them from a screen. Codes are shown in groups of four; any spaces, dashes or lower case
typed at the till are ignored.
"""

from __future__ import annotations

import datetime
import secrets
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from benefits.baskets import coupon_terms
from benefits.errors import CouponNotRedeemable, CouponOrderMismatch, CouponVoidWindowPassed
from benefits.models import Benefit, Coupon, CouponMiss, CouponRedemption, Entitlement
from benefits.webhooks import coupons_emit
from config.common.states import transition
from members.models import Channel, Member, Store
from members.purchases.baskets import NO_BASKET, Basket
from members.selectors import stores_of
from members.webhooks.models import EventType
from tiers.models import MemberTier, Subscription
from tiers.selectors import ladder

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 16
ISSUE_BATCH = 2000


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(typed: str) -> str:
    return "".join(ch for ch in (typed or "").upper() if ch.isalnum())


def coupon_issue(
    member: Member,
    *,
    benefit: Benefit,
    origin: str,
    at: datetime.datetime | None = None,
    valid_until: datetime.datetime | None = None,
) -> Coupon:
    """Issue one coupon of ``benefit`` to ``member`` (a reward bought, an operator's goodwill)."""
    coupon = coupons_issue([member.pk], benefit=benefit, origin=origin, at=at, valid_until=valid_until)[0]
    coupon.member = member
    return coupon


def coupons_issue(
    member_ids: list[int],
    *,
    benefit: Benefit,
    origin: str,
    at: datetime.datetime | None = None,
    valid_until: datetime.datetime | None = None,
) -> list[Coupon]:
    """A coupon of ``benefit`` for each of ``member_ids`` (in that order), in one insert."""
    at = at or timezone.now()
    if not benefit.issued:
        raise ValidationError(
            {"benefit": _("%(benefit)s is held, not issued as a coupon.") % {"benefit": benefit}}
        )
    until = valid_until or at + datetime.timedelta(days=benefit.valid_days)
    with transaction.atomic(savepoint=False):  # the caller's transaction if any: no savepoint
        coupons = Coupon.objects.bulk_create(
            Coupon(
                code=new_code(),
                benefit=benefit,
                member_id=member_id,
                origin=origin,
                valid_from=at,
                valid_until=until,
                issued_at=at,
            )
            for member_id in member_ids
        )
        coupons_emit(EventType.COUPON_ISSUED, coupons, at)
    return coupons


def period_key(period: str, at: datetime.datetime) -> str:
    local = timezone.localtime(at)
    return f"{local:%Y-%m}" if period == Entitlement.Period.MONTHLY else f"{local:%Y}"


def entitled_members(entitlement: Entitlement, at: datetime.datetime) -> QuerySet[Member]:
    """Active members the entitlement applies to at ``at``: by effective tier, or by a running
    period of the plan; birthday entitlements only in the member's birthday month."""
    members = Member.objects.filter(status=Member.Status.ACTIVE)
    if entitlement.tier_id is not None:
        if entitlement.tier_id == ladder()[0].pk:  # members with no status row are in the entry tier
            members = members.filter(
                Q(tier_status__isnull=True) | Q(tier_status__tier_id=entitlement.tier_id)
            )
        else:
            members = members.filter(
                pk__in=MemberTier.objects.filter(tier_id=entitlement.tier_id).values("member_id")
            )
    else:
        assert entitlement.plan_id is not None  # the constraint entitlement_tier_or_plan
        members = members.filter(
            pk__in=Subscription.objects.filter(
                plan_id=entitlement.plan_id,
                status=Subscription.Status.ACTIVE,
                starts_at__lte=at,
                ends_at__gt=at,
            ).values("member_id")
        )
    if entitlement.period == Entitlement.Period.BIRTHDAY:
        members = members.filter(birthday__month=timezone.localtime(at).month)
    return members


def entitlements_issue(
    at: datetime.datetime | None = None, *, member: Member | None = None, batch: int = ISSUE_BATCH
) -> int:
    """Issue this period's entitled coupons to everyone entitled who does not have them yet.

    Run daily: a member who reaches a tier mid-month gets that month's coupons the next
    morning, or at once when the caller (the earning pipeline, after an upgrade) passes
    ``member``. The unique (entitlement, member, period, number) constraint makes a second
    run, or two at once, issue nothing new. Returns how many coupons were issued.
    """
    at = at or timezone.now()
    issued = 0
    entitlements = Entitlement.objects.filter(active=True, benefit__active=True).select_related("benefit")
    for entitlement in entitlements:
        benefit = entitlement.benefit
        if not benefit.issued:
            continue
        key = period_key(entitlement.period, at)
        until = at + datetime.timedelta(days=benefit.valid_days)
        member_ids = entitled_members(entitlement, at).order_by("pk").values_list("pk", flat=True)
        if member is not None:
            member_ids = member_ids.filter(pk=member.pk)
        last = 0
        while chunk := list(member_ids.filter(pk__gt=last)[:batch]):
            with transaction.atomic():
                # Jobs running at once take turns per chunk, so each sees what the other issued
                # (and the count returned is exact); the unique constraint is the last word.
                Entitlement.objects.select_for_update().filter(pk=entitlement.pk).exists()
                have = set(
                    Coupon.objects.filter(
                        entitlement=entitlement, period_key=key, member_id__in=chunk
                    ).values_list("member_id", "seq")
                )
                new = [
                    Coupon(
                        code=new_code(),
                        benefit=benefit,
                        member_id=member_id,
                        origin=Coupon.Origin.ENTITLEMENT,
                        entitlement=entitlement,
                        period_key=key,
                        seq=seq,
                        valid_from=at,
                        valid_until=until,
                        issued_at=at,
                    )
                    for member_id in chunk
                    for seq in range(1, entitlement.quantity + 1)
                    if (member_id, seq) not in have
                ]
                Coupon.objects.bulk_create(new)
                coupons_emit(EventType.COUPON_ISSUED, new, at)
            issued += len(new)
            last = chunk[-1]
    return issued


def coupon_find(typed: str) -> Coupon | None:
    code = normalise_code(typed)
    if not code:
        return None
    return Coupon.objects.select_related("benefit", "member", "redeemed_store").filter(code=code).first()


#: How long failed lookups are kept: the risk rules read them (a simulation up to 90 days back).
MISSES_KEPT = datetime.timedelta(days=90)


def coupon_miss_record(
    typed: str,
    *,
    partner: Any = None,
    store: Store | None = None,
    user: Any = None,
    at: datetime.datetime | None = None,
) -> None:
    """Note a code looked up and not found, and by whom: the risk rules count these to catch codes
    being guessed. Callers write it outside any transaction a refusal rolls back."""
    CouponMiss.objects.create(
        at=at or timezone.now(), code=normalise_code(typed)[:32], partner=partner, store=store, user=user
    )


def coupon_misses_prune(now: datetime.datetime | None = None) -> int:
    """Remove the failed lookups older than ``MISSES_KEPT``; how many."""
    deleted, _by_model = CouponMiss.objects.filter(at__lt=(now or timezone.now()) - MISSES_KEPT).delete()
    return deleted


def coupon_redeem(
    *,
    code: str,
    store: Store,
    user: Any,
    basket: Basket = NO_BASKET,
    channel: str = Channel.STORE,
    at: datetime.datetime | None = None,
) -> CouponRedemption:
    """Redeem (核销) a coupon at ``store`` for ``basket``: its conditions checked and its discount
    computed (``coupon_terms``), recorded as a ``CouponRedemption``. One conditional UPDATE: of
    two tills scanning the same code at the same moment, the second finds it already redeemed."""
    at = at or timezone.now()
    if not stores_of(user).filter(pk=store.pk).exists():
        raise PermissionDenied(_("You do not work at %(store)s.") % {"store": store})
    if not store.is_active:
        raise CouponNotRedeemable(_("%(store)s is closed.") % {"store": store})
    normal = normalise_code(code)
    found = coupon_find(normal)
    if reason := why_not_redeemable(found, at):  # used, expired ...: that first, not the basket
        raise CouponNotRedeemable(reason, code=normal)
    assert found is not None  # why_not_redeemable says so otherwise
    terms = coupon_terms(found.benefit, store=store, channel=channel, basket=basket, at=at)
    with transaction.atomic():
        # Conditions on the coupon's own columns only: PostgreSQL re-checks those on the row
        # the other till just redeemed; a condition through a join (a subquery) it does not.
        done = Coupon.objects.filter(
            Coupon.MOVES.may_move_to(Coupon.Status.REDEEMED),
            code=normal,
            valid_from__lte=at,
            valid_until__gt=at,
        ).update(status=Coupon.Status.REDEEMED, redeemed_at=at, redeemed_store=store, redeemed_by=user)
        if done:
            window = found.benefit.void_window_minutes
            redemption = CouponRedemption.objects.create(
                coupon=found,
                store=store,
                channel=channel,
                order_number=basket.order_number,
                amount=basket.amount,
                eligible_amount=terms.eligible_amount,
                discount=terms.discount,
                redeemed_at=at,
                redeemed_by=user,
                void_until=at + datetime.timedelta(minutes=window) if window else None,
            )
            found.status, found.redeemed_at, found.redeemed_store, found.redeemed_by = (
                Coupon.Status.REDEEMED,
                at,
                store,
                user,
            )
            coupons_emit(EventType.COUPON_REDEEMED, [found], at, redemption=redemption)
            return redemption
    raise CouponNotRedeemable(why_not_redeemable(coupon_find(normal), at), code=normal)


def why_not_redeemable(coupon: Coupon | None, at: datetime.datetime) -> str:
    """The reason staff see when a code cannot be redeemed (None if it can be)."""
    if coupon is None:
        return _("No coupon has this code.")
    local = timezone.localtime
    if coupon.status == Coupon.Status.REDEEMED:
        return _("Already redeemed at %(store)s on %(when)s.") % {
            "store": coupon.redeemed_store,
            "when": f"{local(coupon.redeemed_at):%Y-%m-%d %H:%M}",
        }
    if coupon.status == Coupon.Status.VOIDED:
        return _("This coupon was voided: %(reason)s") % {"reason": coupon.void_reason}
    if coupon.status == Coupon.Status.EXPIRED or coupon.valid_until <= at:
        return _("Expired on %(when)s.") % {"when": f"{local(coupon.valid_until):%Y-%m-%d %H:%M}"}
    if coupon.valid_from > at:
        return _("Not valid before %(when)s.") % {"when": f"{local(coupon.valid_from):%Y-%m-%d %H:%M}"}
    if coupon.member.status != Member.Status.ACTIVE:
        return _("The member's account is %(status)s.") % {"status": coupon.member.get_status_display()}
    return ""


def may_undo(redemption: CouponRedemption, user: Any) -> bool:
    """Who may undo a redemption: whoever made it, and staff of the store it was made at. An API
    partner only its own: its service user (inactive, never at a counter) is the one that made it."""
    if redemption.redeemed_by_id is not None and redemption.redeemed_by_id == getattr(user, "pk", None):
        return True
    return bool(user.is_active) and stores_of(user).filter(pk=redemption.store_id).exists()


def coupon_redemption_void(
    redemption: CouponRedemption,
    *,
    actor: Any,
    reason: str,
    order_number: str = "",
    note: str = "",
    at: datetime.datetime | None = None,
) -> CouponRedemption:
    """Undo (void) a redemption: the coupon can be redeemed again (or, past its end meanwhile,
    it is expired). ``reason`` UNDO: until the redemption's ``void_until`` (the benefit's window);
    ORDER_CANCELLED: at any time, naming the ``order_number`` the redemption was made for.

    Idempotent: a redemption already undone is answered as it is. The coupon's row is locked
    first, so a void that read the coupon before a second void and a new redemption of it
    committed cannot put it back to issued under the new redemption.
    """
    at = at or timezone.now()
    if reason not in CouponRedemption.VoidReason.values:
        raise ValidationError(
            {"void_reason": _("Why is it undone: at the till, or because the order was cancelled?")}
        )
    if not may_undo(redemption, actor):
        raise PermissionDenied(
            _("Only the store where it was redeemed, or whoever redeemed it, may undo a redemption.")
        )
    with transaction.atomic():
        coupon = (
            Coupon.objects.select_for_update(of=("self",))
            .select_related("benefit", "member")
            .get(pk=redemption.coupon_id)
        )
        redemption = CouponRedemption.objects.select_related("store").get(pk=redemption.pk)
        redemption.coupon = coupon
        if redemption.voided_at is not None:
            return redemption
        if reason == CouponRedemption.VoidReason.ORDER_CANCELLED:
            if not redemption.order_number or order_number != redemption.order_number:
                raise CouponOrderMismatch(
                    _("This redemption was for order %(order)s, not %(given)s.")
                    % {"order": redemption.order_number or "-", "given": order_number or "-"},
                    field="order_number",
                )
        elif redemption.void_until is None or at >= redemption.void_until:
            until = redemption.void_until
            raise CouponVoidWindowPassed(
                _("It can no longer be undone (it could until %(until)s); only a cancelled order undoes it.")
                % {"until": f"{timezone.localtime(until):%Y-%m-%d %H:%M}" if until else "-"},
                answer={"void_until": timezone.localtime(until).isoformat() if until else None},
            )
        transition(coupon, Coupon.Status.ISSUED, table=Coupon.MOVES)
        coupon.redeemed_at = coupon.redeemed_store = coupon.redeemed_by = None
        if coupon.valid_until <= at:  # its time ran out meanwhile: expired, as the nightly job would
            transition(coupon, Coupon.Status.EXPIRED, table=Coupon.MOVES)
        coupon.save(update_fields=["status", "redeemed_at", "redeemed_store", "redeemed_by"])
        redemption.voided_at, redemption.voided_by = at, actor if getattr(actor, "pk", None) else None
        redemption.void_reason, redemption.void_note = reason, note.strip()
        redemption.save(update_fields=["voided_at", "voided_by", "void_reason", "void_note"])
    return redemption


def coupon_void(
    coupon: Coupon,
    *,
    actor: Any,
    reason: str,
    at: datetime.datetime | None = None,
    redemption_cancelled: bool = False,
) -> Coupon:
    """Withdraw an unused coupon (issued in error). A coupon bought with points is voided only
    by cancelling its redemption (``redemption_cancelled``), which refunds the points."""
    at = at or timezone.now()
    if not reason.strip():
        raise ValidationError({"void_reason": _("Say why the coupon is voided.")})
    if coupon.origin == Coupon.Origin.REWARD and not redemption_cancelled:
        raise CouponNotRedeemable(
            _("Bought with points: cancel its redemption instead, which refunds the points.")
        )
    done = Coupon.objects.filter(Coupon.MOVES.may_move_to(Coupon.Status.VOIDED), pk=coupon.pk).update(
        status=Coupon.Status.VOIDED,
        voided_at=at,
        void_reason=reason.strip(),
        voided_by=actor if getattr(actor, "pk", None) else None,
    )
    coupon.refresh_from_db()
    if not done:
        raise CouponNotRedeemable(
            _("Only an unused coupon can be voided; this one is %(status)s.")
            % {"status": coupon.get_status_display()}
        )
    return coupon


def coupons_expire_due(now: datetime.datetime | None = None, *, batch: int = 10_000) -> int:
    """Mark unused coupons past their end as expired. Idempotent (status moves on)."""
    now = now or timezone.now()
    done = 0
    expirable = Coupon.MOVES.may_move_to(Coupon.Status.EXPIRED)
    while True:
        ids = list(
            Coupon.objects.filter(expirable, valid_until__lte=now).values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return done
        done += Coupon.objects.filter(expirable, pk__in=ids).update(status=Coupon.Status.EXPIRED)
