"""``refunds_process_many`` gives exactly what ``refund_process`` gives one refund at a time, in
order: the same refund awards and lines, campaign budgets given back, ledger entries, lot
remainders, allocations and balances, and the same errors. Each scenario runs both ways on the
same data (the single path inside a rolled-back transaction) and compares every table by
natural keys; a last test shows the batch's queries do not grow with the number of refunds."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from campaigns.earning import engine
from campaigns.earning.batch_refunds import refunds_process_many
from campaigns.earning.budgets import count_spent, count_spent_in_order
from campaigns.earning.pipeline import purchase_process, refund_process
from campaigns.models import Award, AwardLine, Campaign
from campaigns.selectors import rule_book
from config.common.bulk import SMALL
from points.errors import NothingToReverse
from points.models import Account, Entry
from points.selectors import ledger_problems
from points.services import lots_activate_due, points_reverse, points_spend
from tests.campaigns.conftest import NOW, buy, campaign, refund
from tests.factories import MemberFactory
from tests.points.conftest import ledger_snapshot

AT = NOW + datetime.timedelta(days=2)
pytestmark = pytest.mark.django_db


class Rollback(Exception):
    pass


def snapshot() -> dict:
    return {
        "awards": sorted(
            Award.objects.values_list(
                "key",
                "kind",
                "member__member_number",
                "purchase__order_number",
                "refund__refund_number",
                "reason",
                "occurred_at",
                "created_at",
            )
        ),
        "lines": sorted(
            AwardLine.objects.values_list(
                "award__key",
                "kind",
                "member__member_number",
                "point_type__code",
                "amount",
                "campaign__code",
                "cny",
                "occurred_at",
                "params",
            ),
            key=str,
        ),
        "campaigns": sorted(Campaign.objects.values_list("code", "spent_points", "spent_cny")),
        **ledger_snapshot(),
    }


def one_by_one(refunds) -> tuple[dict, list[str]]:
    """What ``refund_process`` per refund writes (rolled back) and the awards' keys."""
    try:
        with transaction.atomic():
            book = rule_book()
            keys = [refund_process(r, at=AT, book=book).key for r in refunds]
            written = snapshot()
            raise Rollback
    except Rollback:
        pass
    return written, keys


def both_ways(refunds) -> tuple[dict, dict]:
    before = snapshot()
    single, keys = one_by_one(refunds)
    assert snapshot() == before
    awards = refunds_process_many(refunds, book=rule_book(), at=AT)
    assert [award.key for award in awards] == keys == [f"return:{r.pk}" for r in refunds]
    assert ledger_problems() == {}
    return single, snapshot()


def earned(purchases) -> None:
    for purchase in purchases:
        purchase_process(purchase, at=NOW)


def test_the_same_as_one_by_one(ladder):
    double = campaign(name="双倍", multiplier=Decimal(2), budget_points=100_000)
    bonus = campaign(name="满额礼", bonus_points=88, budget_cny=Decimal("500"))
    members = [MemberFactory() for _ in range(5)]
    week = datetime.timedelta(days=7)
    purchases = [
        buy(members[0], "1000"),
        buy(members[1], "99.90"),
        buy(members[2], "300", at=NOW - 2 * week),  # its points are available, and partly spent
        buy(members[2], "50", at=NOW - 2 * week),
        buy(members[3], "120"),
        buy(members[4], "10"),  # not awarded before its refund: the single path awards it first
    ]
    earned(purchases[:5])
    lots_activate_due(now=NOW)
    points_spend(member=members[2], point_type="points", amount=650, idempotency_key="gift-1", at=NOW)
    refunds = [
        refund(purchases[0], "250", at=NOW),
        refund(purchases[1], "99.90", at=NOW),  # in full
        refund(purchases[0], "300", at=NOW),  # a second partial refund of one purchase in one batch
        refund(purchases[2], "100", at=NOW),  # taken from the other purchase's points, then owed
        refund(purchases[4], "120", at=NOW),
        refund(purchases[5], "4", at=NOW),
        refund(purchases[0], "450", at=NOW),  # the rest: every line back to zero
        refund(purchases[5], "6", at=NOW),  # after its purchase was awarded in the batch
        refund(purchases[3], "50", at=NOW),
    ]
    refunds.append(refunds[1])  # the same refund twice: its award, once
    single, batched = both_ways(refunds)
    assert single == batched
    spent = Account.objects.get(member=members[2], point_type__code="points")
    assert spent.debt > 0 and spent.flagged_at is not None
    assert Entry.objects.filter(kind=Entry.Kind.REVERSE, source_ref=f"purchase:{purchases[3].pk}").exists()
    double.refresh_from_db()
    bonus.refresh_from_db()
    # every purchase refunded in full but the 300 CNY one, of which a third: 2/3 of its 300 and 88
    assert (double.spent_points, bonus.spent_points) == (200, 88 - 29)
    assert bonus.spent_cny == 59 * rule_book().point_types["points"].cny_value


def test_a_chunk_processed_again_returns_the_awards_and_writes_nothing(db):
    purchases = [buy(MemberFactory(), "100") for _ in range(3)]
    earned(purchases)
    refunds = [refund(p, "40") for p in purchases] + [refund(purchases[0], "60")]
    first = refunds_process_many(refunds, book=rule_book(), at=AT)
    before = snapshot()
    again = refunds_process_many(refunds[::-1], book=rule_book(), at=AT + datetime.timedelta(days=1))
    assert [a.pk for a in again] == [a.pk for a in first][::-1]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("reversed_before", "error"),
    [(30, ValidationError), (100, NothingToReverse)],
    ids=["too-much-left-to-reverse", "nothing-left"],
)
def test_a_reverse_the_ledger_refuses_fails_as_in_the_single_path(db, reversed_before, error):
    """Points of the purchase reversed by hand beforehand: the refund asks the ledger for more
    than is left of them, and the batch raises what the single path raises, writing nothing."""
    members = [MemberFactory(), MemberFactory()]
    purchases = [buy(members[0], "100"), buy(members[1], "100")]
    earned(purchases)
    points_reverse(
        member=members[1], point_type="points", source="purchase", source_ref=f"purchase:{purchases[1].pk}",
        amount=reversed_before, idempotency_key="by-hand", at=NOW,
    )  # fmt: skip
    refunds = [refund(purchases[0], "100"), refund(purchases[1], "100")]
    with pytest.raises(error) as single, transaction.atomic():
        for r in refunds:
            refund_process(r, at=AT, book=rule_book())
    before = snapshot()
    with pytest.raises(error) as batched:
        refunds_process_many(refunds, book=rule_book(), at=AT)
    assert str(batched.value) == str(single.value)
    assert snapshot() == before


def test_budget_totals_that_the_database_rounds_are_counted_refund_by_refund(db):
    """CNY amounts finer than the budget column's places: added one refund at a time, as the
    single path does, since the rounding after each addition does not add up."""
    budgeted = campaign(name="预算", bonus_points=1, budget_cny=Decimal("100"))
    campaigns = {budgeted.pk: Campaign.objects.get(pk=budgeted.pk)}
    tiny = [[engine.Line("campaign", engine.POINTS, -1, budgeted.pk, Decimal("-0.00004"))] for _ in range(3)]
    try:
        with transaction.atomic():
            for lines in tiny:
                count_spent(lines, campaigns)
            single = Campaign.objects.values_list("spent_points", "spent_cny").get(pk=budgeted.pk)
            raise Rollback
    except Rollback:
        pass
    count_spent_in_order(tiny, campaigns)
    assert Campaign.objects.values_list("spent_points", "spent_cny").get(pk=budgeted.pk) == single


def test_the_queries_do_not_grow_with_the_refunds(db):
    campaign(name="双倍", multiplier=Decimal(2), budget_points=100_000)

    def queries(n: int) -> int:
        purchases = [buy(MemberFactory(), "100") for _ in range(n)]
        earned(purchases)
        refunds = [refund(p, "30") for p in purchases]
        book = rule_book()
        with CaptureQueriesContext(connection) as captured:
            refunds_process_many(refunds, book=book, at=AT)
        assert Award.objects.filter(kind=Award.Kind.REFUND, refund__in=refunds).count() == n
        return len(captured)

    # bulk_insert and bulk_set take a few more (fixed) statements from SMALL rows on (COPY); one
    # asks whether any partner subscribes to points.changed (webhooks)
    one, small, twenty = queries(1), queries(SMALL), queries(20)
    assert one <= small == twenty <= 31
