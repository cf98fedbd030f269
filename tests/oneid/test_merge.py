"""Merging two records of one person: everything the absorbed member held is the survivor's,
field by field, and the books still balance."""

from __future__ import annotations

import datetime

import pytest

from benefits.coupons import coupon_issue
from benefits.models import Coupon
from members.models import ConsentRecord, Identity, Member
from members.oneid.models import DuplicateCandidate, MemberMerge
from members.oneid.services import MergeRefused, merge_approve, merge_reject, merge_request
from members.purchases.models import Purchase
from members.services import member_set_consent
from points.models import Account, AdjustmentRequest, Entry, Lot, Source
from points.selectors import ledger_problems
from points.services import lots_activate_due, points_earn, points_spend
from tests.factories import MemberFactory, TagFactory
from tests.oneid.conftest import NOW, balance, buy, merged, refund
from tiers.models import MemberTier, TierChange

DAY = datetime.timedelta(days=1)


@pytest.fixture
def alice(db):
    return MemberFactory(name="张丽", mobile="13800000001", card="C1001")


@pytest.fixture
def alice_again(db):
    """The same person, enrolled again on the mini-program with another phone."""
    return MemberFactory(name="张丽", mobile="13800000002", unionid="oUNION-1")


def test_everything_of_the_absorbed_member_is_the_survivors(
    alice, alice_again, ladder, twenty_off, operator, approver
):
    # alice: silver (1,200 growth), 1,200 points available; alice_again: gold (5,300 growth),
    # 5,000 points available expiring end of 2027, 450 pending until 18 Nov (300 CNY at gold's
    # x1.5), a coupon, a tag
    sale = buy(alice, "1200", at=NOW - 30 * DAY)
    old = buy(alice_again, "5000", at=NOW - 30 * DAY)
    recent = buy(alice_again, "300", at=NOW)
    lots_activate_due(now=NOW)
    assert balance(alice_again) == (5000, 450)
    coupon = coupon_issue(alice_again, benefit=twenty_off, origin=Coupon.Origin.MANUAL, at=NOW)
    vip = TagFactory(name="VIP")
    alice_again.tags.add(vip)
    member_set_consent(member=alice, channel="sms", granted=True, at=NOW - 20 * DAY)
    member_set_consent(member=alice_again, channel="sms", granted=True, at=NOW - 15 * DAY)
    member_set_consent(member=alice_again, channel="sms", granted=False, at=NOW - 10 * DAY)  # latest
    member_set_consent(member=alice_again, channel="email", granted=True, at=NOW - 10 * DAY)
    gold_status = MemberTier.objects.get(member=alice_again)
    assert gold_status.tier == ladder["gold"]
    lots = Lot.objects.filter(account__member=alice_again, account__point_type__code="points")
    expiring = set(lots.values_list("expires_at", "available_at"))

    record = merged(alice, alice_again, by=operator, approver=approver)

    assert record.status == MemberMerge.Status.DONE
    assert (record.requested_by, record.decided_by) == (operator, approver)
    alice.refresh_from_db()
    alice_again.refresh_from_db()
    # points: 1,200 + 5,000 available, 450 still pending, with their own dates
    assert balance(alice) == (6200, 450)
    assert balance(alice_again) == (0, 0)
    moved = Lot.objects.filter(account__member=alice, account__point_type__code="points", entry__kind="merge")
    assert {(lot.amount, lot.status) for lot in moved} == {(5000, "available"), (450, "pending")}
    assert set(moved.values_list("expires_at", "available_at")) == expiring
    assert {lot.source_ref for lot in moved} == {f"purchase:{old.pk}", f"purchase:{recent.pk}"}
    merge_entries = Entry.objects.filter(kind=Entry.Kind.MERGE, account__point_type__code="points")
    assert sorted(merge_entries.values_list("amount", flat=True)) == [-5450, 5450]
    assert ledger_problems() == {}
    # growth moved too; the tier is the higher one, with its period
    assert balance(alice, "growth") == (6200, 300)
    status = MemberTier.objects.get(member=alice)
    assert (status.tier, status.earned_tier) == (ladder["gold"], ladder["gold"])
    assert (status.period_start, status.valid_until) == (gold_status.period_start, gold_status.valid_until)
    assert not MemberTier.objects.filter(member=alice_again).exists()
    change = TierChange.objects.filter(member=alice).latest("at")
    assert (change.reason, change.from_tier, change.to_tier) == ("merge", ladder["silver"], ladder["gold"])
    # coupons, purchases, tags, identities
    coupon.refresh_from_db()
    assert coupon.member == alice
    assert set(Purchase.objects.filter(member=alice)) == {sale, old, recent}
    assert list(alice.tags.all()) == [vip]
    ids = {(i.kind, i.value, i.is_primary_phone) for i in Identity.objects.filter(member=alice)}
    assert ids == {
        ("phone", "+8613800000001", True),
        ("phone", "+8613800000002", False),
        ("card", "C1001", False),
        ("unionid", "oUNION-1", False),
    }
    assert alice.mobile.as_e164 == "+8613800000001"
    # consents: the most recent choice per channel, the whole trail kept
    assert (alice.sms_consent, alice.email_consent) == (False, True)
    assert ConsentRecord.objects.filter(member=alice).count() == 4
    # the absorbed record: closed, pointing at the survivor, holding nothing personal to reuse
    assert (alice_again.status, alice_again.merged_into, alice_again.mobile) == ("closed", alice, None)
    assert not Identity.objects.filter(member=alice_again).exists()
    what = {row["what"]: row["count"] for row in record.moved}
    assert what["purchases"] == 2 and what["coupons"] == 1 and what["identities"] == 2
    # history says who merged
    last = alice_again.history.latest("history_date")
    assert (last.history_user, last.history_change_reason) == (approver, f"merge:{record.pk}")
    assert last.status == "closed"


def test_a_refund_of_an_absorbed_purchase_takes_its_points_back_from_the_survivor(
    alice, alice_again, operator
):
    sale = buy(alice_again, "500", at=NOW - 10 * DAY)  # 500 points, available since 7 days after
    lots_activate_due(now=NOW - 2 * DAY)
    points_spend(
        member=alice_again, point_type="points", amount=200, source=Source.REDEMPTION, source_ref="R1",
        idempotency_key="spend-1", at=NOW - 2 * DAY,
    )  # fmt: skip
    merged(alice, alice_again, by=operator)
    assert balance(alice) == (300, 0)

    refund(Purchase.objects.get(pk=sale.pk), "500", at=NOW)

    # all 500 earned come back: the 300 left of it, and the 200 spent from the rest (none: owed)
    assert balance(alice) == (-200, 0)
    assert Account.objects.get(member=alice, point_type__code="points").debt == 200
    assert ledger_problems() == {}


def test_debt_of_the_absorbed_member_is_paid_from_the_survivors_points(alice, alice_again, operator):
    points_earn(
        member=alice, point_type="points", amount=800, source=Source.OPERATOR, source_ref="goodwill",
        idempotency_key="g1", at=NOW - DAY, available_at=NOW - DAY,
    )  # fmt: skip
    sale = buy(alice_again, "100", at=NOW - 10 * DAY)
    lots_activate_due(now=NOW - 2 * DAY)
    points_spend(
        member=alice_again, point_type="points", amount=100, source=Source.REDEMPTION, source_ref="R",
        idempotency_key="s", at=NOW - DAY,
    )  # fmt: skip
    refund(sale, "100", at=NOW - DAY / 2)  # 100 owed
    assert Account.objects.get(member=alice_again, point_type__code="points").debt == 100

    merged(alice, alice_again, by=operator)

    assert balance(alice) == (700, 0)
    assert Account.objects.get(member=alice_again, point_type__code="points").debt == 0
    assert ledger_problems() == {}


def test_big_balances_wait_for_a_second_person(alice, alice_again, operator, approver):
    points_earn(
        member=alice_again, point_type="points", amount=1500, source=Source.OPERATOR, source_ref="x",
        idempotency_key="big", at=NOW, available_at=NOW,
    )  # fmt: skip
    (record,) = merge_request(survivor=alice, absorbed=[alice_again], reason="同一人", actor=operator, at=NOW)
    assert record.status == MemberMerge.Status.PENDING
    assert "above the approval threshold of 1000" in record.approval_reasons[0]
    assert balance(alice) == (0, 0)  # nothing moved yet
    with pytest.raises(MergeRefused, match="someone other than"):
        merge_approve(merge=record, actor=operator)
    with pytest.raises(MergeRefused, match="already has a merge waiting"):
        merge_request(survivor=alice, absorbed=[alice_again], reason="again", actor=operator, at=NOW + DAY)

    merge_reject(merge=record, actor=approver, note="不是同一人")
    assert Member.objects.get(pk=alice_again.pk).status == "active"
    (again,) = merge_request(
        survivor=alice, absorbed=[alice_again], reason="核实后", actor=operator, at=NOW + DAY
    )
    merge_approve(merge=again, actor=approver)
    assert balance(alice) == (1500, 0)


def test_a_merged_member_cannot_be_merged_or_survive_again(alice, alice_again, operator):
    merged(alice, alice_again, by=operator)
    third = MemberFactory(name="张丽")
    with pytest.raises(MergeRefused, match="already merged"):
        merge_request(survivor=third, absorbed=[alice_again], reason="x", actor=operator)
    with pytest.raises(MergeRefused, match="already merged"):
        merge_request(survivor=alice_again, absorbed=[third], reason="x", actor=operator)


def test_merging_into_a_member_that_is_then_merged_points_at_the_last_survivor(alice, alice_again, operator):
    merged(alice, alice_again, by=operator)
    third = MemberFactory(name="张丽")
    merged(third, alice, by=operator)
    assert Member.objects.get(pk=alice_again.pk).merged_into == third
    assert Member.objects.get(pk=alice.pk).merged_into == third


def test_the_pair_found_as_duplicates_is_marked_merged(alice, alice_again, operator):
    pair = DuplicateCandidate.objects.create(first=alice, second=alice_again, found_at=NOW, reasons=[])
    merged(alice, alice_again, by=operator)
    pair.refresh_from_db()
    assert pair.status == DuplicateCandidate.Status.MERGED


def test_a_purchase_recorded_for_the_absorbed_member_earns_for_the_survivor(alice, alice_again, operator):
    """A till that read the member before the merge (its insert waited for the merge's lock)."""
    merged(alice, alice_again, by=operator)

    sale = buy(Member.objects.get(pk=alice_again.pk), "100")

    assert Purchase.objects.get(pk=sale.pk).member == alice
    assert balance(alice) == (0, 100)
    assert balance(alice_again) == (0, 0)
    assert ledger_problems() == {}


def test_a_pending_points_adjustment_is_decided_before_the_merge(alice, alice_again, operator):
    from points.services import points_adjust

    points_adjust(
        member=alice_again,
        point_type="points",
        amount=5000,
        reason="补偿",
        actor=operator,
        idempotency_key="adj",
    )
    with pytest.raises(MergeRefused, match="adjustment waiting for approval"):
        merged(alice, alice_again, by=operator)
    assert Member.objects.get(pk=alice_again.pk).merged_into is None  # nothing moved


def test_several_members_merge_as_one_transaction(alice, alice_again, operator):
    """Three records of one person: the third cannot go yet, so neither goes."""
    from points.services import points_adjust

    third = MemberFactory(name="张丽")
    points_adjust(
        member=third, point_type="points", amount=5000, reason="补偿", actor=operator,
        idempotency_key="adj-3",
    )  # fmt: skip
    with pytest.raises(MergeRefused, match="adjustment waiting"):
        merge_request(survivor=alice, absorbed=[alice_again, third], reason="同一人", actor=operator)
    assert not MemberMerge.objects.exists()
    assert Member.objects.get(pk=alice_again.pk).status == "active"

    AdjustmentRequest.objects.update(status=AdjustmentRequest.Status.REJECTED)
    records = merge_request(survivor=alice, absorbed=[alice_again, third], reason="同一人", actor=operator)
    assert [r.status for r in records] == ["done", "done"]
    assert set(Member.objects.filter(merged_into=alice).values_list("pk", flat=True)) == {
        alice_again.pk,
        third.pk,
    }
