"""Earn, spend, reverse, adjust, transfer, activate and expire: what members and finance see."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError

from config.common.errors import IdempotencyConflict
from points.errors import (
    ApprovalError,
    InsufficientPoints,
    NothingToReverse,
    NotRedeemable,
)
from points.models import Account, AdjustmentRequest, Entry, Lot, LotAllocation
from points.services import (
    adjustment_approve,
    adjustment_reject,
    lots_activate_due,
    lots_expire_due,
    points_adjust,
    points_earn,
    points_earn_many,
    points_refund,
    points_reverse,
    points_spend,
    points_transfer,
)
from tests.points.conftest import T0, days, key

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("reconciled")]


def account(member, code="points") -> Account:
    return Account.objects.get(member=member, point_type__code=code)


def earn(member, amount, *, at=T0, ref="P1", code="points", **kw):
    return points_earn(
        member=member, point_type=code, amount=amount, source="purchase", source_ref=ref,
        idempotency_key=key("earn"), at=at, **kw,
    )  # fmt: skip


def spend(member, amount, *, at, **kw):
    return points_spend(
        member=member, point_type="points", amount=amount, idempotency_key=key("spend"), at=at, **kw
    )


def test_earned_points_are_pending_for_the_return_window_then_spendable(alice):
    earn(alice, 100)
    acc = account(alice)
    assert (acc.pending, acc.available, acc.earned) == (100, 0, 100)
    with pytest.raises(InsufficientPoints):
        spend(alice, 1, at=T0 + days(1))
    assert lots_activate_due(now=T0 + days(7)) == 1
    acc.refresh_from_db()
    assert (acc.pending, acc.available) == (0, 100)
    entry = spend(alice, 30, at=T0 + days(8))
    assert entry.amount == -30 and entry.balance_after == 70


def test_calendar_clear_out_expires_on_31_december_of_next_year(alice, points_type):
    earn(alice, 50, at=T0)  # 2026
    lot = Lot.objects.get()
    local_expiry = lot.expires_at.astimezone(datetime.timezone(datetime.timedelta(hours=8)))
    assert (local_expiry.year, local_expiry.month, local_expiry.day, local_expiry.hour) == (2028, 1, 1, 0)
    lots_activate_due(now=T0 + days(10))
    assert lots_expire_due(now=lot.expires_at - days(0.001)) == 0
    assert lots_expire_due(now=lot.expires_at) == 1
    acc = account(alice)
    assert (acc.available, acc.expired) == (0, 50)
    assert lots_expire_due(now=lot.expires_at + days(1)) == 0  # idempotent


def test_spend_takes_soonest_expiring_lots_first_and_traces_them(alice, points_type):
    points_type.expiry_policy, points_type.expiry_period = "rolling", 12
    points_type.save()
    first = earn(alice, 40, at=T0, ref="old")
    second = earn(alice, 40, at=T0 + days(30), ref="new")
    lots_activate_due(now=T0 + days(40))
    entry = spend(alice, 50, at=T0 + days(41))
    taken = {a.lot.entry_id: a.amount for a in LotAllocation.objects.filter(entry=entry)}
    assert taken == {first.pk: 40, second.pk: 10}


def test_spend_never_uses_expired_points_even_before_the_expiry_job(alice, points_type):
    points_type.expiry_policy, points_type.expiry_period = "rolling", 1
    points_type.save()
    earn(alice, 100, at=T0)
    lots_activate_due(now=T0 + days(7))
    with pytest.raises(InsufficientPoints):
        spend(alice, 10, at=T0 + days(40))


def test_growth_is_never_spent(alice):
    earn(alice, 10, code="growth")
    with pytest.raises(NotRedeemable):
        points_spend(member=alice, point_type="growth", amount=1, idempotency_key=key(), at=T0 + days(9))


def test_same_key_returns_the_first_result_and_different_content_is_an_error(alice):
    first = points_earn(
        member=alice, point_type="points", amount=10, source="event", idempotency_key="k1", at=T0
    )
    again = points_earn(
        member=alice, point_type="points", amount=10, source="event", idempotency_key="k1", at=T0
    )
    assert again.pk == first.pk and Entry.objects.count() == 1
    with pytest.raises(IdempotencyConflict):
        points_earn(member=alice, point_type="points", amount=11, source="event", idempotency_key="k1", at=T0)


def test_reverse_cancels_pending_first(alice):
    earn(alice, 100, ref="R1")
    points_reverse(member=alice, point_type="points", source="purchase", source_ref="R1", amount=30,
                   idempotency_key=key(), at=T0 + days(1))  # fmt: skip
    acc = account(alice)
    assert (acc.pending, acc.available) == (70, 0)
    with pytest.raises(ValidationError):  # never more than what is left of that source
        points_reverse(member=alice, point_type="points", source="purchase", source_ref="R1", amount=71,
                       idempotency_key=key(), at=T0 + days(1))  # fmt: skip
    points_reverse(member=alice, point_type="points", source="purchase", source_ref="R1",
                   idempotency_key=key(), at=T0 + days(1))  # fmt: skip
    with pytest.raises(NothingToReverse):
        points_reverse(member=alice, point_type="points", source="purchase", source_ref="R1",
                       idempotency_key=key(), at=T0 + days(1))  # fmt: skip
    acc.refresh_from_db()
    assert acc.balance == 0


def test_reversing_spent_points_takes_from_balance_then_leaves_a_flagged_debt(alice):
    earn(alice, 100, ref="R1")
    earn(alice, 20, ref="R2")
    lots_activate_due(now=T0 + days(7))
    spend(alice, 110, at=T0 + days(8))
    # R1's 100 are spent; the balance (R2's last 10) covers 10, the other 90 are owed
    points_reverse(member=alice, point_type="points", source="purchase", source_ref="R1",
                   idempotency_key=key(), at=T0 + days(9))  # fmt: skip
    acc = account(alice)
    assert (acc.available, acc.debt) == (-90, 90) and acc.flagged_at is not None
    with pytest.raises(InsufficientPoints):
        spend(alice, 1, at=T0 + days(10))
    earn(alice, 100, ref="R3", at=T0 + days(10))  # pays the debt first
    acc.refresh_from_db()
    assert (acc.debt, acc.available, acc.pending) == (0, 0, 10)


def test_small_adjustment_posts_large_one_waits_for_a_different_approver(
    alice, operator, approver, make_user
):
    small = points_adjust(member=alice, point_type="points", amount=500, reason="客诉补偿", actor=operator,
                          idempotency_key=key())  # fmt: skip
    assert isinstance(small, Entry) and account(alice).available == 500
    with pytest.raises(ValidationError):
        points_adjust(
            member=alice, point_type="points", amount=5, reason=" ", actor=operator, idempotency_key=key()
        )
    request = points_adjust(member=alice, point_type="points", amount=5000, reason="活动补发", actor=operator,
                            idempotency_key="big")  # fmt: skip
    assert isinstance(request, AdjustmentRequest) and account(alice).available == 500
    with pytest.raises(PermissionDenied):
        adjustment_approve(request=request, approver=operator)
    self_approver = make_user(username="maker-and-checker")
    self_approver.user_permissions.add(Permission.objects.get(codename="approve_adjustment"))
    own = points_adjust(member=alice, point_type="points", amount=-2000, reason="纠错", actor=self_approver,
                        idempotency_key="own")  # fmt: skip
    with pytest.raises(ApprovalError):
        adjustment_approve(request=own, approver=self_approver)
    entry = adjustment_approve(request=request, approver=approver)
    assert entry.actor == approver and account(alice).available == 5500
    with pytest.raises(ApprovalError):
        adjustment_approve(request=request, approver=approver)
    adjustment_reject(request=own, approver=approver, note="证据不足")
    assert account(alice).available == 5500


def test_transfer_keeps_expiry_dates(alice, bob):
    earn(alice, 100)
    lots_activate_due(now=T0 + days(7))
    out, incoming = points_transfer(from_member=alice, to_member=bob, point_type="points", amount=60,
                                    idempotency_key="t1", at=T0 + days(8))  # fmt: skip
    assert (out.amount, incoming.amount) == (-60, 60)
    assert (account(alice).available, account(bob).available) == (40, 60)
    assert (
        Lot.objects.get(account=account(bob)).expires_at == Lot.objects.get(account=account(alice)).expires_at
    )
    again = points_transfer(from_member=alice, to_member=bob, point_type="points", amount=60,
                            idempotency_key="t1", at=T0 + days(8))  # fmt: skip
    assert again == (out, incoming)
    with pytest.raises(InsufficientPoints):
        points_transfer(from_member=alice, to_member=bob, point_type="points", amount=41,
                        idempotency_key="t2", at=T0 + days(8))  # fmt: skip


def test_entries_cannot_be_changed_through_the_orm(alice):
    entry = earn(alice, 10)
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        entry.delete()
    with pytest.raises(TypeError):
        Entry.objects.filter(pk=entry.pk).update(amount=1)
    with pytest.raises(TypeError):
        Entry.objects.all().delete()


def test_keys_the_ledger_derives_itself_are_refused_from_callers(alice):
    for reserved in ["expire:lot:1", "adjustment:7", "refund:3", "merge:5:points:in"]:
        with pytest.raises(ValidationError):
            points_earn(member=alice, point_type="points", amount=1, source="event", idempotency_key=reserved)


def test_a_refunded_spend_comes_back_once_with_its_expiry_dates_and_pays_a_debt_first(alice):
    earn(alice, 100, ref="R1", available_at=T0)
    earn(alice, 50, ref="R2", at=T0 + days(1), available_at=T0 + days(1))
    used = spend(alice, 120, at=T0 + days(2))
    points_reverse(
        member=alice, point_type="points", source="purchase", source_ref="R2", idempotency_key=key(),
        at=T0 + days(3),
    )  # fmt: skip
    acc = account(alice)
    assert (acc.available, acc.debt) == (-20, 20)

    refund = points_refund(spend=used, reason="Redemption cancelled", at=T0 + days(4))

    acc.refresh_from_db()
    assert (refund.kind, refund.amount, acc.available, acc.debt, acc.spent) == ("refund", 120, 100, 0, 120)
    original = Lot.objects.get(source_ref="R1").expires_at  # both earns expire together (calendar)
    lots = [(lot.amount, lot.remaining, lot.expires_at) for lot in Lot.objects.filter(entry=refund)]
    assert lots == [(120, 100, original)]  # 20 of it paid the debt
    assert points_refund(spend=used, at=T0 + days(5)) == refund
    acc.refresh_from_db()
    assert acc.available == 100
    with pytest.raises(ValidationError):
        points_refund(spend=refund)


def test_earning_several_types_at_once_is_earning_each(alice, bob, points_type, growth_type):
    """The pipeline posts 积分 and 成长值 of a purchase in one call: same entries, lots and balances
    as one points_earn per type, and each recognises the other's retry."""
    both = {points_type: 120, growth_type: 80}
    many = points_earn_many(member=alice, amounts=both, source="purchase", source_ref="P9", key="buy-9",
                            at=T0, pending_from=T0 - days(2))  # fmt: skip
    for point_type, amount in both.items():
        points_earn(member=bob, point_type=point_type, amount=amount, source="purchase", source_ref="P9",
                    idempotency_key=f"buy-9b:{point_type.code}", at=T0,
                    available_at=T0 - days(2) + days(point_type.pending_days))  # fmt: skip

    def state(member):
        return sorted(
            (a.point_type.code, a.available, a.pending, a.earned,
             list(a.lots.values_list("amount", "remaining", "status", "available_at", "expires_at")))
            for a in Account.objects.filter(member=member)
        )  # fmt: skip

    assert state(alice) == state(bob)
    assert [e.idempotency_key for e in many] == ["buy-9:points", "buy-9:growth"]
    again = points_earn_many(member=alice, amounts=both, source="purchase", source_ref="P9", key="buy-9",
                             at=T0 + days(1), pending_from=T0 - days(2))  # fmt: skip
    assert again == many and Entry.objects.filter(account__member=alice).count() == 2
    alone = points_earn(member=alice, point_type=points_type, amount=120, source="purchase", source_ref="P9",
                        idempotency_key="buy-9:points", at=T0, available_at=T0 + days(5))  # fmt: skip
    assert alone == many[0]
    with pytest.raises(IdempotencyConflict):
        points_earn_many(member=alice, amounts={points_type: 121, growth_type: 80}, source="purchase",
                         source_ref="P9", key="buy-9", at=T0, pending_from=T0 - days(2))  # fmt: skip


def test_earning_several_types_at_once_pays_a_debt_first(alice, points_type, growth_type):
    earn(alice, 100, ref="R1")
    lots_activate_due(now=T0 + days(7))
    spend(alice, 100, at=T0 + days(8))
    points_reverse(member=alice, point_type="points", source="purchase", source_ref="R1",
                   idempotency_key=key(), at=T0 + days(9))  # fmt: skip
    points_earn_many(member=alice, amounts={points_type: 150, growth_type: 150}, source="event", key="ev-1",
                     at=T0 + days(10), available_at=T0 + days(10))  # fmt: skip
    acc = account(alice)
    assert (acc.debt, acc.available, acc.pending) == (0, 50, 0)
    assert LotAllocation.objects.filter(lot__account=acc, amount=100).exists()
