"""Tills racing through the earning pipeline on PostgreSQL: a campaign budget is given out to the
last point and not one more, a purchase sent ten times at once earns once, a once-per-member bonus
is given once, and refunds of one purchase processed together take back exactly their share.

Runs on PostgreSQL only: SQLite serialises writers, so it cannot show the races. Each test commits
for real (``transaction=True``); the database is emptied after each, so the data migrations' rows
(point types, entry tier and policy, the default 1-per-CNY earning rules) are put back first.
Each lock test with a ``[control...]`` beside it runs the same race with the lock off.
"""

from __future__ import annotations

import datetime
import threading
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Sum

from benefits.models import Benefit, Coupon, Entitlement
from campaigns.earning.batch import purchases_process_many
from campaigns.earning.batch_refunds import refunds_process_many
from campaigns.earning.pipeline import purchase_process, refund_process
from campaigns.forms import CampaignForm
from campaigns.models import Award, AwardLine, Campaign
from campaigns.selectors import rule_book
from campaigns.services import CONTENT_FIELDS, campaign_draft_update, campaigns_due, lifecycle_transition
from members.models import Member
from points.models import Account, Entry
from points.selectors import ledger_problems
from tests.campaigns.conftest import NOW, buy, campaign, refund
from tests.concurrency import LOCKED_AND_CONTROL, Last, race, unless
from tests.factories import MemberFactory
from tests.tiers.conftest import local
from tiers.models import Tier
from tiers.services import tier_override

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and races need PostgreSQL"),
]

LATER = NOW + datetime.timedelta(days=1)


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


def after_first(text: str) -> Any:
    """A meeting point: the statement after the thread's first SELECT containing ``text``."""
    seen = False

    def point(sql: str, _params: Any) -> bool:
        nonlocal seen
        if seen:
            return True
        seen = sql.lstrip().startswith("SELECT") and text in sql
        return False

    return point


@pytest.fixture
def boss() -> User:
    return User.objects.create_superuser("boss")


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_a_campaign_approved_and_rejected_at_once_is_one_or_the_other(locked: bool, boss):
    """Two approvers decide a submitted campaign at the same moment, one approves, one sends it
    back: one decision stands, the other approver is told it is no longer possible. Without the
    lock both are recorded from the same status."""
    submitted = campaign(name="双倍", multiplier=Decimal(2), status=Campaign.Status.SUBMITTED)
    other = User.objects.create_superuser("boss-2")
    decisions = [("approve", boss), ("reject", other)]

    def decide(i: int) -> Any:
        action, approver = decisions[i]
        return lifecycle_transition(submitted, action, actor=approver, at=NOW)

    with unless(locked, "campaigns/services.py::lifecycle_transition"):
        results = race(2, decide, meet=r'^UPDATE "campaigns_campaign"')

    refused = [r for r in results if isinstance(r, PermissionDenied)]
    assert all(isinstance(r, (Campaign, PermissionDenied)) for r in results), results
    assert len(refused) == (1 if locked else 0)


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_start_jobs_at_once_start_a_campaign_once(locked: bool):
    """The job that starts scheduled campaigns runs twice at the same moment: the campaign is
    started once (one history record). Without the lock both start it."""
    scheduled = campaign(
        name="双11", status=Campaign.Status.SCHEDULED, starts_at=NOW - datetime.timedelta(minutes=1)
    )

    with unless(locked, "campaigns/services.py::lifecycle_due"):
        results = race(2, lambda i: campaigns_due(now=NOW), meet=r'^UPDATE "campaigns_campaign"')

    assert sorted(results) == ([0, 1] if locked else [1, 1]), results
    assert Campaign.objects.get(pk=scheduled.pk).status == Campaign.Status.ACTIVE


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_a_draft_saved_while_it_is_submitted_is_saved_before_the_submission(locked: bool, boss):
    """An operator saves an edit of a draft at the moment another submits it: the edit goes in
    before the submission (or is refused, had the submission come first). Without the form's
    lock the edit lands on the campaign already submitted for approval, unseen by the approver.
    The form only validates; the service the admin calls after it takes the lock."""
    draft = campaign(
        code="double11", name="双11双倍积分", status=Campaign.Status.DRAFT, multiplier=Decimal(2)
    )
    data = {
        "code": "double11", "name": "双11三倍积分", "description": "", "starts_at": "2026-01-01 00:00:00",
        "ends_at": "2027-01-01 00:00:00", "trigger": "purchase", "birthday": "", "multiplier": "3",
        "bonus_points": "0", "growth": "0", "priority": "0", "holdout_percent": "0",
    }  # fmt: skip

    def work(i: int) -> Any:
        if i == 1:
            return lifecycle_transition(draft, "submit", actor=boss, at=NOW)
        with transaction.atomic():  # as the admin saves a change form
            form = CampaignForm(data=data, instance=Campaign.objects.get(pk=draft.pk))
            if not form.is_valid():
                return form.errors
            values = {k: v for k, v in form.cleaned_data.items() if k in CONTENT_FIELDS}
            return campaign_draft_update(form.instance, values=values, actor=boss)

    with unless(locked, "campaigns/services.py::campaign_draft_update"):
        results = race(
            2,
            work,
            meet=[
                Last(after_first('"campaigns_campaign"."status" =')),
                r'FROM "campaigns_campaign".*FOR UPDATE',
            ],
        )

    assert isinstance(results[1], Campaign), results
    history = list(Campaign.history.filter(id=draft.pk).order_by("history_date", "history_id"))
    last = history[-1]
    assert isinstance(results[0], Campaign), results
    if locked:
        assert (last.status, last.name) == (Campaign.Status.SUBMITTED, "双11三倍积分")
    else:  # submitted unedited, then the edit saved over it
        assert (history[-2].status, history[-2].name) == (Campaign.Status.SUBMITTED, "双11双倍积分")
        assert last.name == "双11三倍积分"


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_one_purchase_by_the_import_and_the_api_at_once_earns_once(locked: bool):
    """An import's set-based pipeline and a single call award the same purchase at once: one
    award, both get it. Without the import's member lock both award it, and one breaks on the
    award's unique key."""
    member = MemberFactory()
    purchase = buy(member, "99.00")
    book = rule_book()
    calls = [
        lambda: purchases_process_many([purchase], book=book, at=NOW)[0],
        lambda: purchase_process(purchase, at=NOW),
    ]

    with unless(locked, "campaigns/earning/batch.py::_wave"):
        results = race(2, lambda i: calls[i](), meet=r'^INSERT INTO "campaigns_award"')

    if locked:
        assert len({award.pk for award in no_errors(results)}) == 1
        assert held(member) == 99
    else:
        assert sum(isinstance(r, IntegrityError) for r in results) == 1, results
    assert Award.objects.count() == 1


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_one_refund_by_the_import_and_the_api_at_once_takes_back_once(locked: bool):
    """An import's set-based refunds and a single call process the same refund at once: one
    refund award, the points taken back once. Without the import's member lock both take it."""
    member = MemberFactory()
    purchase = buy(member, "100.00")
    purchase_process(purchase, at=NOW)
    returned = refund(purchase, "40.00")
    book = rule_book()
    calls = [
        lambda: refunds_process_many([returned], book=book, at=LATER)[0],
        lambda: refund_process(returned, at=LATER),
    ]

    with unless(locked, "campaigns/earning/pipeline.py::refunds_take_back#1"):
        results = race(2, lambda i: calls[i](), meet=r'^INSERT INTO "campaigns_award"')

    if locked:
        assert len({award.pk for award in no_errors(results)}) == 1
        assert (held(member), held(member, "growth")) == (60, 60)
    else:
        assert sum(isinstance(r, IntegrityError) for r in results) == 1, results
    assert Award.objects.filter(kind=Award.Kind.REFUND).count() == 1


def two_budgets_in_reverse_order() -> tuple[Campaign, Campaign]:
    """Two budgeted campaigns whose refund lines come in descending primary-key order (lines are
    sorted as text: ``10000001`` before ``9000001``), so a refund without the campaigns' lock
    would update the higher one first, against the order purchases lock them in."""
    low = campaign(pk=9_000_001, name="满额加赠", bonus_points=100, budget_points=100_000)
    high = campaign(pk=10_000_001, name="周末加赠", bonus_points=50, budget_points=100_000)
    return low, high


def before_updating(low: Campaign) -> Any:
    return lambda sql, params: sql.startswith('UPDATE "campaigns_campaign"') and low.pk in (params or ())


@pytest.mark.parametrize(
    ("path", "locked"),
    [
        pytest.param("single", True, id="single-locked"),
        pytest.param("single", False, id="single-control"),
        pytest.param("import", True, id="import-locked"),
        pytest.param("import", False, id="import-control"),
    ],
)
def test_a_refund_and_a_purchase_racing_for_two_budgets_never_deadlock(path: str, locked: bool):
    """Alice's refund gives two campaigns' budgets back while Bob's purchase draws on both: both go
    through. The refund locks the campaigns in primary-key order before it writes, as the purchase
    does; without that it holds the one it updated first and waits for the other, which the
    purchase holds while it waits for the first: a deadlock, and one of them fails."""
    low, high = two_budgets_in_reverse_order()
    alice, bob = MemberFactory(), MemberFactory()
    bought = buy(alice, "100.00")
    purchase_process(bought, at=NOW)
    returned = refund(bought, "100.00")
    purchase = buy(bob, "50.00")
    book = rule_book()
    refund_call = {
        "single": lambda: refund_process(returned, at=LATER),
        "import": lambda: refunds_process_many([returned], book=book, at=LATER)[0],
    }[path]
    # one refund or a wave: the same lock (``refund_process`` is a wave of one)
    with unless(locked, "campaigns/earning/pipeline.py::refunds_take_back#2"):
        results = race(
            2,
            lambda i: refund_call() if i == 0 else purchase_process(purchase, at=LATER),
            meet=[Last(before_updating(low)), r'FROM "campaigns_campaign".*FOR UPDATE'],
        )

    if locked:
        no_errors(results)
        low.refresh_from_db()
        high.refresh_from_db()
        assert (low.spent_points, high.spent_points) == (100, 50)  # Alice's given back, Bob's taken
    else:
        assert sum(isinstance(r, OperationalError) and "deadlock" in str(r) for r in results) == 1, results


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_an_import_wave_sees_an_override_given_meanwhile(locked: bool, boss):
    """An operator holds Bob at 金卡 while the import awards his purchase: the import, seeing him
    above the tier the purchase was earned in, issues 金卡's coupons at once. Without the wave's
    tier lock it read his tier before the override committed and issues nothing."""
    gold = Tier.objects.create(rank=1, code="gold", name="金卡", threshold=100_000)
    benefit = Benefit.objects.create(name="金卡包邮券", kind=Benefit.Kind.FREE_SHIPPING)
    Entitlement.objects.create(benefit=benefit, tier=gold, quantity=1)
    bob = MemberFactory()
    purchase_process(buy(bob, "10.00"), at=NOW)  # his tier status exists
    purchase = buy(bob, "20.00")
    book = rule_book()
    locked_by_override = threading.Event()

    def override() -> Any:
        def note(execute, sql, params, many, context):
            result = execute(sql, params, many, context)
            if 'FROM "tiers_membertier"' in sql and "FOR UPDATE" in sql:
                locked_by_override.set()
            return result

        with connection.execute_wrapper(note):
            return tier_override(
                bob, tier=gold, until=local(2027, 6, 1), reason="明星会员", actor=boss, at=NOW
            )

    def wave() -> Any:
        assert locked_by_override.wait(60)  # the override holds Bob's status first
        return purchases_process_many([purchase], book=book, at=NOW)[0]

    with unless(locked, "tiers/services.py::lock_statuses.locked"):
        results = race(
            2,
            lambda i: override() if i == 0 else wave(),
            meet=[r'^UPDATE "tiers_membertier"', Last(after_first('ORDER BY "tiers_membertier"."id"'))],
        )

    assert not [r for r in results if isinstance(r, Exception)], results
    coupons = Coupon.objects.filter(member=bob, benefit=benefit).count()
    assert coupons == (1 if locked else 0)


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_purchases_of_one_member_deciding_a_once_per_member_bonus_at_once_give_it_once(locked: bool):
    """Both tills have read the member's bonus history before either writes: the bonus limited to
    once per member still goes to one purchase. Without the member lock both see it unused."""
    once = campaign(name="首单礼", bonus_points=300, member_max_times=1)
    member = MemberFactory()
    purchases = [buy(member, "50.00"), buy(member, "80.00")]

    with unless(locked, "campaigns/earning/pipeline.py::_process"):
        results = no_errors(
            race(2, lambda i: purchase_process(purchases[i], at=NOW), meet=r'^INSERT INTO "campaigns_award"')
        )

    bonuses = [sum(award.lines.filter(campaign=once).values_list("amount", flat=True)) for award in results]
    assert sorted(bonuses) == ([0, 300] if locked else [300, 300])


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_members_deciding_the_last_of_a_budget_at_once_never_overspend_it(locked: bool):
    """100 points of budget left, two members' purchases read it at once: one gets the 100, the
    other nothing. Without the campaign's lock both read 100 left and both get it."""
    limited = campaign(name="限量加赠", bonus_points=100, budget_points=100)
    purchases = [buy(MemberFactory(), "20.00"), buy(MemberFactory(), "30.00")]

    with unless(locked, "campaigns/earning/budgets.py::lock_budgets"):
        no_errors(
            race(2, lambda i: purchase_process(purchases[i], at=NOW), meet=r'^INSERT INTO "campaigns_award"')
        )

    given = sorted(AwardLine.objects.filter(campaign=limited).values_list("amount", flat=True))
    assert given == ([100] if locked else [100, 100])
    limited.refresh_from_db()
    assert limited.spent_points == (100 if locked else 200)


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_one_refund_processed_by_two_workers_at_once_takes_back_once(locked: bool):
    """A refund picked up by two workers together: one refund award, the points taken back once.
    Without the member lock both compute it, and one breaks on the award's unique key."""
    member = MemberFactory()
    purchase = buy(member, "100.00")
    purchase_process(purchase, at=NOW)
    returned = refund(purchase, "40.00")

    with unless(locked, "campaigns/earning/pipeline.py::refunds_take_back#1"):
        results = race(
            2, lambda i: refund_process(returned, at=LATER), meet=r'^INSERT INTO "campaigns_award"'
        )

    if locked:
        assert len({award.pk for award in no_errors(results)}) == 1
        assert (held(member), held(member, "growth")) == (60, 60)
    else:
        assert sum(isinstance(r, IntegrityError) for r in results) == 1, results
