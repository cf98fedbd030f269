"""Households: create, join, leave, dissolve, transfer to the head; leaving settles by the rule."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from config.common.errors import IdempotencyConflict
from members.models import Member
from points.households.errors import HouseholdRefused
from points.households.models import Household, HouseholdMembership, HouseholdTransfer
from points.households.services import (
    household_create,
    household_dissolve,
    household_join,
    household_leave,
    household_transfer_to_head,
    household_update,
)
from points.models import Entry, Lot
from points.selectors import ledger_problems
from tests.factories import MemberFactory
from tests.households.conftest import EXP_2026, EXP_2027, NOW, T0, T_OLD, balance, earn, open_lots

pytestmark = pytest.mark.django_db


def test_create_join_leave(family):
    household, head, mother, son = family
    active = household.memberships.filter(left_at__isnull=True)
    assert [(m.member, m.role) for m in active] == [
        (head, HouseholdMembership.Role.HEAD),
        (mother, HouseholdMembership.Role.MEMBER),
        (son, HouseholdMembership.Role.MEMBER),
    ]
    left = household_leave(member=son, at=NOW)
    assert left.left_at == NOW and left.settled_points == 0
    assert household.memberships.filter(left_at__isnull=True).count() == 2
    # out of the household, he may found his own
    own = household_create(name="张子家", head=son, at=NOW)
    assert own.memberships.get().role == HouseholdMembership.Role.HEAD
    assert Household.objects.get(pk=household.pk).history.count() == 1  # created; rules unchanged


def test_a_member_is_in_one_household_at_a_time(family):
    _household, head, mother, _son = family
    other = household_create(name="李家", head=MemberFactory(name="李父"))
    with pytest.raises(ValidationError) as refused:
        household_join(household=other, member=mother)
    assert "member" in refused.value.message_dict and "张家" in refused.value.message_dict["member"][0]
    with pytest.raises(ValidationError) as refused:
        household_create(name="王家", head=head)
    assert "head" in refused.value.message_dict
    assert HouseholdMembership.objects.filter(member=mother, left_at__isnull=True).count() == 1
    assert not Household.objects.filter(name="王家").exists()


def test_closed_or_merged_members_are_refused(family):
    household, head, _mother, _son = family
    closed, merged = MemberFactory(), MemberFactory()
    Member.objects.filter(pk=closed.pk).update(status=Member.Status.CLOSED)
    Member.objects.filter(pk=merged.pk).update(merged_into=head)
    closed.refresh_from_db()
    merged.refresh_from_db()
    for member in (closed, merged):
        with pytest.raises(ValidationError) as refused:
            household_join(household=household, member=member)
        assert "member" in refused.value.message_dict
    with pytest.raises(ValidationError):
        household_create(name="空家", head=closed)


def test_the_head_cannot_leave_and_a_dissolved_household_takes_nobody(family):
    household, head, _mother, _son = family
    with pytest.raises(HouseholdRefused):
        household_leave(member=head)
    household_dissolve(household, at=NOW)
    with pytest.raises(HouseholdRefused):
        household_join(household=household, member=MemberFactory())
    with pytest.raises(HouseholdRefused):
        household_update(household, name="张家", pool_spenders="all", monthly_cap=0, on_leave="keep")


def test_bad_rules_name_the_field(family):
    household = family[0]
    with pytest.raises(ValidationError) as refused:
        household_update(household, name="张家", pool_spenders="all", monthly_cap=-1, on_leave="keep")
    assert "monthly_cap" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        household_update(household, name=" ", pool_spenders="all", monthly_cap=0, on_leave="keep")
    assert "name" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        household_update(household, name="张家", pool_spenders="anyone", monthly_cap=0, on_leave="keep")
    assert "pool_spenders" in refused.value.message_dict


def test_transfer_to_the_head_keeps_expiry_dates_and_says_from_whom(family):
    """张母 has 100 (of 2025, valid through 2026) and 200 (of 2026): giving 150 takes the
    soonest-expiring first, 100 of 2025 and 50 of 2026; the head gets two lots with those dates."""
    _household, head, mother, _son = family
    earn(mother, 100, at=T_OLD)
    earn(mother, 200, at=T0)
    given = household_transfer_to_head(member=mother, points=150, idempotency_key="gift-1", at=NOW)
    assert given.points == 150 and given.in_entry.account.member == head
    assert balance(mother) == 150 and open_lots(mother) == {EXP_2027: 150}
    assert balance(head) == 150 and open_lots(head) == {EXP_2026: 100, EXP_2027: 50}
    assert set(Lot.objects.filter(entry=given.in_entry).values_list("source_ref", flat=True)) == {
        f"from:{mother.member_number}"
    }
    assert given.in_entry.kind == Entry.Kind.TRANSFER
    # a retry is the same transfer; the same key for something else is a conflict
    assert household_transfer_to_head(member=mother, points=150, idempotency_key="gift-1") == given
    with pytest.raises(IdempotencyConflict):
        household_transfer_to_head(member=mother, points=10, idempotency_key="gift-1")
    assert balance(head) == 150 and HouseholdTransfer.objects.count() == 1
    with pytest.raises(ValidationError) as refused:
        household_transfer_to_head(member=head, points=10, idempotency_key="gift-2")
    assert "member" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        household_transfer_to_head(member=mother, points=10, idempotency_key="household:1")
    assert "idempotency_key" in refused.value.message_dict
    assert ledger_problems() == {}


def _gift_then_head_spends(family, rule: str):
    """张父 (head) earned 100 of 2026; 张母 gives him 150 (100 of 2025, 50 of 2026); he spends
    120 of his own 250: the 100 of 2025 she gave first, then 20 of the 2026 lots, the older lot
    (his own) first. Left with him: his 80 and her 50 of 2026."""
    household, head, mother, _son = family
    household_update(household, name="张家", pool_spenders="all", monthly_cap=0, on_leave=rule)
    earn(head, 100, at=T0)
    earn(mother, 100, at=T_OLD)
    earn(mother, 200, at=T0)
    household_transfer_to_head(member=mother, points=150, idempotency_key="gift-1", at=NOW)
    from points.households.pool import household_spend

    household_spend(member=head, point_type="points", amount=120, idempotency_key="till-1", at=NOW)
    assert open_lots(head) == {EXP_2027: 130}
    return household, head, mother


def test_leaving_under_return_gives_back_what_the_head_has_not_spent(family):
    _household, head, mother = _gift_then_head_spends(family, Household.OnLeave.RETURN)
    entries = Entry.objects.count()
    membership = household_leave(member=mother, at=NOW)
    # the 50 of 2026 she gave and he did not spend go back to her, dated as they were
    assert membership.settled_points == 50
    assert balance(head) == 80 and balance(mother) == 150 + 50
    assert open_lots(mother) == {EXP_2027: 200}
    out, into = Entry.objects.order_by("-id")[:2][::-1]
    assert Entry.objects.count() == entries + 2
    assert (out.kind, out.amount, out.account.member, out.idempotency_key) == (
        Entry.Kind.TRANSFER, -50, head, f"household:{membership.pk}:settle:out",
    )  # fmt: skip
    assert (into.amount, into.account.member, into.source_ref) == (50, mother, f"from:{head.member_number}")
    assert "张家" in into.reason
    assert ledger_problems() == {}


def test_leaving_under_keep_moves_nothing(family):
    _household, head, mother = _gift_then_head_spends(family, Household.OnLeave.KEEP)
    entries = Entry.objects.count()
    membership = household_leave(member=mother, at=NOW)
    assert membership.settled_points == 0 and Entry.objects.count() == entries
    assert balance(head) == 130 and balance(mother) == 150


def test_dissolving_settles_every_member_then_ends_the_household(family, operator):
    """RETURN rule: 张母 gave 150 (the head spent 120 of his 250: 50 of hers left), 张子 gave 30
    of his 40 (the head has spent none of it): both get it back, the head keeps his own 80."""
    household, head, mother = _gift_then_head_spends(family, Household.OnLeave.RETURN)
    son = family[3]
    earn(son, 40, at=T0)
    household_transfer_to_head(member=son, points=30, idempotency_key="gift-son", at=NOW)
    household_dissolve(household, actor=operator, at=NOW)
    household.refresh_from_db()
    assert household.status == Household.Status.DISSOLVED and household.dissolved_at == NOW
    assert not household.memberships.filter(left_at__isnull=True).exists()
    settled = dict(household.memberships.values_list("member", "settled_points"))
    assert settled == {head.pk: 0, mother.pk: 50, son.pk: 30}
    assert (balance(head), balance(mother), balance(son)) == (80, 200, 40)
    assert household.history.first().history_user == operator
    assert ledger_problems() == {}


def test_a_merged_member_leaves_the_household_and_a_head_cannot_be_absorbed(family, operator):
    from members.oneid.models import MemberMerge
    from members.oneid.services import MergeRefused, merge_request

    household, head, mother, _son = family
    survivor = MemberFactory()
    (merge,) = merge_request(survivor=survivor, absorbed=[mother], reason="同一人", actor=operator)
    assert merge.status == MemberMerge.Status.DONE
    assert {"what": "households", "count": 1, "detail": "张家"} in merge.moved
    assert HouseholdMembership.objects.get(member=mother).left_at == merge.merged_at
    assert not HouseholdMembership.objects.filter(member=survivor).exists()
    with pytest.raises(MergeRefused) as refused:
        merge_request(survivor=survivor, absorbed=[head], reason="同一人", actor=operator)
    assert "张家" in refused.value.message
    head.refresh_from_db()
    assert head.merged_into is None and household.memberships.get(member=head).left_at is None
