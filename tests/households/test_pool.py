"""Redeeming with the household pool: own points first, then the head's, then the others' by
joining date, within the rules; a refund gives every point back to the account it came from."""

from __future__ import annotations

import datetime

import pytest
from django.db.models import Sum

from benefits.models import Reward
from benefits.rewards import redemption_cancel, reward_redeem
from points.errors import InsufficientPoints
from points.households.errors import PoolCapReached
from points.households.models import Household, PoolDraw
from points.households.pool import household_refund, household_spend
from points.households.services import household_leave, household_update
from points.models import Account, Entry, Lot
from points.selectors import ledger_problems
from tests.factories import MemberFactory
from tests.households.conftest import EXP_2026, EXP_2027, NOW, T0, T_OLD, balance, earn, local, open_lots

pytestmark = pytest.mark.django_db


def rules(household: Household, *, spenders: str = "all", cap: int = 0, on_leave: str = "keep") -> None:
    household_update(
        household, name=household.name, pool_spenders=spenders, monthly_cap=cap, on_leave=on_leave
    )


def spend(member, amount: int, key: str, at: datetime.datetime = NOW) -> Entry:
    return household_spend(member=member, point_type="points", amount=amount, idempotency_key=key, at=at)


@pytest.fixture
def funded(family):
    """张父 (head) 300 of 2026; 张母 100 of 2025 and 200 of 2026; 张子 500 of 2026."""
    household, head, mother, son = family
    earn(head, 300, at=T0)
    earn(mother, 100, at=T_OLD)
    earn(mother, 200, at=T0)
    earn(son, 500, at=T0)
    return household, head, mother, son


@pytest.fixture
def pricey(db) -> Reward:
    return Reward.objects.create(name="家庭旅行箱", kind=Reward.Kind.PHYSICAL, points_price=1000, stock=3)


def test_a_pooled_redemption_uses_own_points_then_the_head_then_by_joining(funded, pricey):
    """张子 buys a 1000-point reward with his 500: 500 more from the pool, the head first (all
    his 300), then 张母 (200: her 100 of 2025 first, then 100 of her 200 of 2026)."""
    household, head, mother, son = funded
    redemption = reward_redeem(member=son, reward=pricey, idempotency_key="r-1", at=NOW)
    assert redemption.points == 1000 and redemption.spend.amount == -1000
    assert redemption.spend.account.member == son
    assert (balance(son), balance(head), balance(mother)) == (0, 0, 100)
    assert open_lots(mother) == {EXP_2027: 100}
    draws = {d.giver: d for d in PoolDraw.objects.filter(spend=redemption.spend)}
    assert {giver: d.points for giver, d in draws.items()} == {head: 300, mother: 200}
    assert all(d.household == household and d.spender == son for d in draws.values())
    # each giver's account shows what left it and for whom; the spender's what it drew
    out = draws[mother].out_entry
    assert (out.kind, out.amount, out.source_ref) == (Entry.Kind.POOL, -200, f"to:{son.member_number}")
    assert f"reward:{pricey.pk}" in out.reason
    assert sorted(out.allocations.values_list("lot__expires_at", "amount")) == [
        (EXP_2026, 100),
        (EXP_2027, 100),
    ]
    into = draws[mother].in_entry
    assert (into.amount, into.account.member, into.source_ref) == (200, son, f"from:{mother.member_number}")
    assert sorted(Lot.objects.filter(entry=into).values_list("expires_at", "amount", "remaining")) == [
        (EXP_2026, 100, 0), (EXP_2027, 100, 0),
    ]  # fmt: skip
    # the spend took all of his own lot and all the pool's, nothing else
    taken = redemption.spend.allocations.aggregate(total=Sum("amount"))["total"]
    assert taken == 1000
    son_account = Account.objects.get(member=son, point_type__code="points")
    assert (son_account.spent, son_account.earned) == (1000, 500)
    assert Account.objects.get(member=mother, point_type__code="points").spent == 0  # drawn, not spent
    assert ledger_problems() == {}


def test_own_points_enough_draw_nothing(funded):
    _household, head, _mother, son = funded
    spend(son, 400, "till-1")
    assert balance(son) == 100 and balance(head) == 300 and not PoolDraw.objects.exists()


def test_cancelling_a_pooled_redemption_gives_each_point_back_where_it_came_from(funded, pricey, operator):
    _household, head, mother, son = funded
    redemption = reward_redeem(member=son, reward=pricey, idempotency_key="r-1", at=NOW)
    later = NOW + datetime.timedelta(days=1)
    cancelled = redemption_cancel(redemption, actor=operator, reason="不要了", at=later)
    assert (balance(son), balance(head), balance(mother)) == (500, 300, 300)
    # with the dates they had: 张母's 100 of 2025 come back as 2025's points
    assert open_lots(mother) == {EXP_2026: 100, EXP_2027: 200}
    assert open_lots(head) == {EXP_2027: 300} and open_lots(son) == {EXP_2027: 500}
    refund = cancelled.refund
    assert refund.kind == Entry.Kind.REFUND and refund.amount == 1000 and refund.account.member == son
    for draw in PoolDraw.objects.filter(spend=redemption.spend):
        assert draw.returned_at == later
        back = draw.return_entry
        assert (back.kind, back.amount, back.account.member) == (Entry.Kind.POOL, draw.points, draw.giver)
        assert back.source_ref == f"from:{son.member_number}"
    # refunding again is the same refund
    assert household_refund(spend=redemption.spend) == refund
    assert balance(son) == 500
    # a giver who left meanwhile still gets their points back (checked through the ledger)
    assert ledger_problems() == {}


def test_a_refund_after_the_giver_left_still_returns_to_the_giver(funded):
    _household, head, mother, son = funded
    spent = spend(son, 900, "till-1")  # 500 own, 300 of the head, 100 of 张母 (her 2025 points)
    household_leave(member=mother, at=NOW)
    household_refund(spend=spent, at=NOW)
    assert (balance(son), balance(head), balance(mother)) == (500, 300, 300)
    assert open_lots(mother) == {EXP_2026: 100, EXP_2027: 200}
    assert ledger_problems() == {}


def test_only_the_head_may_spend_the_pool_when_the_rule_says_so(funded):
    household, head, mother, son = funded
    rules(household, spenders=Household.Spenders.HEAD)
    with pytest.raises(InsufficientPoints):
        spend(mother, 400, "till-1")  # her 300 only
    assert (balance(mother), balance(son)) == (300, 500)
    spend(head, 700, "till-2")  # his 300, then 张母's 300 (she joined first), then 100 of 张子's
    assert (balance(head), balance(mother), balance(son)) == (0, 0, 400)
    assert ledger_problems() == {}


def test_the_pool_cannot_cover_more_than_it_holds(funded):
    _household, head, mother, son = funded
    entries = Entry.objects.count()
    with pytest.raises(InsufficientPoints) as refused:
        spend(son, 1400, "till-1")  # 500 own + 600 in the pool = 1100
    assert refused.value.details == {"wanted": 900, "available": 600}
    assert Entry.objects.count() == entries and (balance(head), balance(mother), balance(son)) == (
        300,
        300,
        500,
    )


def test_the_monthly_cap_counts_draws_in_the_programmes_month(funded):
    """Cap 500 a month for what 张父 (the head) draws, once his own 300 are spent: 300 on 31 March,
    then 300 more refused (200 left), 200 accepted; on 1 April a new 500. The month is Shanghai's:
    00:10 on 1 April there is still 31 March in UTC."""
    household, head, mother, son = funded
    rules(household, cap=500)
    spend(head, 300, "own")  # his own 300: no draw
    first = spend(
        head, 300, "m-1", at=local(2026, 3, 31, 23, 30)
    )  # draws 300 (张母's 300); 200 of the cap left
    assert balance(mother) == 0
    with pytest.raises(PoolCapReached) as refused:
        spend(head, 300, "m-2", at=local(2026, 3, 31, 23, 40))
    assert refused.value.details == {"wanted": 300, "available": 200}
    assert balance(son) == 500  # nothing moved
    spend(head, 200, "m-3", at=local(2026, 3, 31, 23, 50))  # exactly what the cap leaves: 200 of 张子's
    assert balance(son) == 300
    april = local(2026, 4, 1, 0, 10)
    assert april.astimezone(datetime.UTC).day == 31  # March in UTC, April in Shanghai
    spend(head, 300, "a-1", at=april)  # a new month: 张子's 300
    assert balance(son) == 0
    # a refunded draw no longer counts: refunding March's first spend frees 300 of March's cap
    household_refund(spend=first, at=local(2026, 3, 31, 23, 55))
    assert balance(mother) == 300
    spend(head, 300, "m-4", at=local(2026, 3, 31, 23, 58))
    assert balance(mother) == 0
    assert ledger_problems() == {}


def test_a_retry_draws_nothing_twice(funded):
    _household, head, _mother, son = funded
    first = spend(son, 700, "till-1")
    assert spend(son, 700, "till-1") == first
    assert balance(head) == 100 and PoolDraw.objects.count() == 1


def test_a_member_who_left_spends_alone_and_outsiders_too(funded):
    _household, _head, mother, _son = funded
    household_leave(member=mother, at=NOW)
    with pytest.raises(InsufficientPoints):
        spend(mother, 400, "till-1")
    loner = MemberFactory()
    earn(loner, 50)
    spend(loner, 50, "till-2")
    assert balance(loner) == 0 and not PoolDraw.objects.exists()


def test_the_finance_roll_forward_ties_out_with_pool_entries(funded, pricey, operator):
    """March 2026: opening 100 (张母's 2025 points); issued 300 + 200 + 500 = 1000; the 1000-point
    redemption (500 of it drawn from the pool) is cancelled 1 day later: redeemed 1000 - 1000 = 0;
    pool entries +500 - 500 on the draw and again on the return: transferred 0. Closing 1100, the
    members' balances."""
    from campaigns.insight.finance import roll_forward
    from campaigns.insight.rollups import day_rollup

    _household, _head, _mother, son = funded
    redemption = reward_redeem(member=son, reward=pricey, idempotency_key="r-1", at=NOW)
    redemption_cancel(redemption, actor=operator, reason="不要了", at=NOW + datetime.timedelta(days=1))
    for day in (datetime.date(2025, 6, 1), datetime.date(2026, 3, 1), datetime.date(2026, 3, 5),
                datetime.date(2026, 3, 6)):  # fmt: skip
        day_rollup(day)
    (row,) = [
        r
        for r in roll_forward(datetime.date(2026, 3, 1), datetime.date(2026, 3, 1))
        if r.point_type.code == "points"
    ]
    assert (row.opening, row.moves["issued"], row.moves["redeemed"], row.moves["transferred"]) == (
        100,
        1000,
        0,
        0,
    )
    assert row.closing == row.opening + row.movement_total() == 1100
    held = Account.objects.filter(point_type__code="points").aggregate(total=Sum("available"))["total"]
    assert held == 1100


def test_the_plain_refund_refuses_a_pooled_spend(funded):
    """Refunded by ``points_refund``, the givers' 500 would stay with 张子: refused, nothing moved."""
    from django.core.exceptions import ValidationError

    from points.services import points_refund

    _household, head, mother, son = funded
    spent = spend(son, 1000, "till-1")
    with pytest.raises(ValidationError) as refused:
        points_refund(spend=spent, at=NOW)
    assert "spend" in refused.value.message_dict
    assert (balance(son), balance(head), balance(mother)) == (0, 0, 100)


def test_the_queries_of_a_pooled_spend(funded, django_assert_num_queries):
    """张子 spends 700: his 500, then 200 of the head's. Pinned so a change that adds a query per
    member or per lot shows."""
    _household, head, _mother, son = funded
    # point type, his membership: 2; savepoint, household lock, members, accounts lock, key, his
    # status under the lock, spendable per account: 7; the draw (the head's lots, entry out,
    # webhook subscribers, lot, allocation, entry in, subscribers, lot): 8; the spend (his lots,
    # entry, subscribers, lots, allocations): 5; the two accounts that changed, the draw row,
    # release savepoint: 4
    with django_assert_num_queries(26):
        spend(son, 700, "till-1")
    assert balance(head) == 100
