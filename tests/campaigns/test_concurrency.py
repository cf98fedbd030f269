"""Tills racing through the earning pipeline on PostgreSQL: a campaign budget is given out to the
last point and not one more, a purchase sent ten times at once earns once, a once-per-member bonus
is given once, and refunds of one purchase processed together take back exactly their share.

Runs on PostgreSQL only: SQLite serialises writers, so it cannot show the races. Each test commits
for real (``transaction=True``); the database is emptied after each, so the data migrations' rows
(point types, entry tier and policy, the default 1-per-CNY earning rules) are put back first.
"""

from __future__ import annotations

import datetime
import importlib
from collections import Counter, defaultdict
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import connection
from django.db.models import Sum

from campaigns.models import Award, AwardLine
from campaigns.pipeline import purchase_process, refund_process
from members.models import Member
from points.models import Account, Entry
from points.selectors import ledger_problems
from tests.campaigns.conftest import NOW, buy, campaign, refund
from tests.concurrency import race
from tests.factories import MemberFactory

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and races need PostgreSQL"),
]

LATER = NOW + datetime.timedelta(days=1)


@pytest.fixture(autouse=True)
def migrated_rows(transactional_db) -> None:
    importlib.import_module("points.migrations.0002_point_types_and_append_only").create_point_types(
        apps, None
    )
    importlib.import_module("tiers.migrations.0002_entry_tier_and_policy").create(apps, None)
    importlib.import_module("campaigns.migrations.0002_default_rules").default_rules(apps, None)


def held(member: Member, code: str = "points") -> int:
    """What the member holds of a point type: spendable plus pending (nothing is spent here)."""
    account = Account.objects.filter(member=member, point_type__code=code).first()
    return account.available + account.pending if account else 0


def no_errors(results: list[object]) -> list[Award]:
    assert all(isinstance(r, Award) for r in results), [r for r in results if not isinstance(r, Award)]
    return results  # type: ignore[return-value]


def test_budget_is_given_out_exactly_when_thirty_purchases_race_for_the_last_of_it():
    """1,050 points of budget, a 100-point bonus, 30 members paying at the same moment: ten get
    100, one gets the last 50, nineteen get nothing, and the campaign never gives a point more."""
    limited = campaign(name="限量加赠", bonus_points=100, budget_points=1050)
    members = [MemberFactory() for _ in range(30)]
    purchases = [buy(member, "20.00") for member in members]

    no_errors(race(30, lambda i: purchase_process(purchases[i], at=NOW)))

    given: dict[int, int] = {member.pk: 0 for member in members}
    for member_id, amount in AwardLine.objects.filter(campaign=limited).values_list("member_id", "amount"):
        given[member_id] += amount
    assert Counter(given.values()) == {100: 10, 50: 1, 0: 19}
    assert sum(given.values()) == 1050
    assert AwardLine.objects.get(campaign=limited, amount=50).params["capped"] == "budget"
    limited.refresh_from_db()
    assert (limited.spent_points, limited.spent_cny) == (1050, Decimal("10.50"))  # 0.01 CNY a point
    assert {m.pk: held(m) for m in members} == {m.pk: 20 + given[m.pk] for m in members}
    assert {m.pk: held(m, "growth") for m in members} == {m.pk: 20 for m in members}
    assert Award.objects.count() == 30
    assert ledger_problems() == {}


def test_the_same_purchase_processed_by_ten_workers_at_once_earns_once():
    """A receipt picked up by ten workers together: one award, one entry per point type, the
    campaign's budget charged once."""
    limited = campaign(name="限量加赠", bonus_points=100, budget_points=10_000)
    member = MemberFactory()
    purchase = buy(member, "99.90")

    results = no_errors(race(10, lambda i: purchase_process(purchase, at=NOW)))

    assert len({award.pk for award in results}) == 1 and Award.objects.count() == 1
    entries = Entry.objects.values_list("account__point_type__code", "kind", "amount", "source_ref")
    key = results[0].key
    assert sorted(entries) == [("growth", "earn", 99, key), ("points", "earn", 199, key)]
    assert sorted(AwardLine.objects.values_list("kind", "amount")) == [
        ("base", 99), ("base", 99), ("campaign", 100),
    ]  # fmt: skip
    limited.refresh_from_db()
    assert limited.spent_points == 100
    assert (held(member), held(member, "growth")) == (199, 99)
    assert ledger_problems() == {}


def test_two_purchases_of_one_member_racing_for_a_once_per_member_bonus_get_it_once():
    """Two tills ring up the same member at once; the bonus limited to once per member goes to
    exactly one of the two purchases, and both earn their base points."""
    once = campaign(name="首单礼", bonus_points=300, member_max_times=1)
    member = MemberFactory()
    purchases = [buy(member, "50.00"), buy(member, "80.00")]

    results = no_errors(race(2, lambda i: purchase_process(purchases[i], at=NOW)))

    bonuses = [sum(award.lines.filter(campaign=once).values_list("amount", flat=True)) for award in results]
    assert sorted(bonuses) == [0, 300]
    assert held(member) == 50 + 80 + 300
    assert held(member, "growth") == 130
    assert ledger_problems() == {}


def test_two_refunds_of_one_purchase_processed_at_once_take_back_exactly_their_share():
    """300 and 450 CNY of a 1,000 CNY double-points purchase refunded at the same moment, each sent
    twice: whatever the order, 75 % of every line comes back, once, and the budget gets it back;
    the last 250 CNY then takes back the rest, to zero."""
    promo = campaign(name="双倍", multiplier=Decimal(2), budget_points=10_000)
    member = MemberFactory()
    purchase = buy(member, "1000.00")
    earned = purchase_process(purchase, at=NOW)
    assert held(member) == 2000
    refunds = [refund(purchase, "300.00"), refund(purchase, "450.00")]

    results = no_errors(race(4, lambda i: refund_process(refunds[i % 2], at=LATER)))

    assert len({award.pk for award in results}) == 2
    lines = AwardLine.objects.filter(award__kind=Award.Kind.REFUND)
    taken_back: dict[tuple[str, str, int | None], int] = defaultdict(int)
    for kind, code, campaign_id, amount in lines.values_list(
        "kind", "point_type__code", "campaign_id", "amount"
    ):
        taken_back[(kind, code, campaign_id)] += amount
    assert taken_back == {
        ("base", "points", None): -750,
        ("campaign", "points", promo.pk): -750,
        ("base", "growth", None): -750,
    }
    reversed_ = dict(
        Entry.objects.filter(kind=Entry.Kind.REVERSE, source_ref=earned.key)
        .values_list("account__point_type__code")
        .annotate(total=Sum("amount"))
    )
    assert reversed_ == {"points": -1500, "growth": -750}
    assert (held(member), held(member, "growth")) == (500, 250)
    promo.refresh_from_db()
    assert promo.spent_points == 250

    refund_process(refund(purchase, "250.00"), at=LATER)
    assert (held(member), held(member, "growth")) == (0, 0)
    promo.refresh_from_db()
    assert promo.spent_points == 0
    assert ledger_problems() == {}
