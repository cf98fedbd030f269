"""Campaigns that target a segment: a member in it when the fact happens gets the campaign, one
out of it does not; the same through the API, the single path, an import's waves and the
simulation, with one segment query per wave.

Every purchase earns the default 1 point and 1 growth per CNY; the entry tier multiplies by 1.
Members: 甲 (上海, on the list), 乙 (北京, not on it), 丙 (上海, not on it).
Campaigns: 名单礼 +50 points for the static list, 上海礼 +30 points for the dynamic 上海 segment.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from campaigns import selectors
from campaigns.earning.batch import batchable, purchases_process_many
from campaigns.earning.pipeline import purchase_process
from campaigns.models import AwardLine, Campaign
from campaigns.segments.models import Condition, Segment, SegmentMember
from campaigns.simulation import campaign_simulate
from members.models import Member
from tests.api.conftest import partner_a  # noqa: F401  (fixture shared)
from tests.api.test_purchases import URL, body, served_by
from tests.campaigns.conftest import NOW, buy, campaign
from tests.campaigns.test_batch import both_ways
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
DAY = datetime.timedelta(days=1)


def points(member: Member, campaign_name: str | None = None) -> int:
    lines = AwardLine.objects.filter(member=member, point_type__code="points")
    if campaign_name:
        lines = lines.filter(campaign__name=campaign_name)
    return lines.aggregate(total=Sum("amount"))["total"] or 0


@pytest.fixture
def people(db):
    jia, yi, bing = MemberFactory(city="上海"), MemberFactory(city="北京"), MemberFactory(city="上海")
    listed = Segment.objects.create(name="名单", kind=Segment.Kind.STATIC)
    SegmentMember.objects.create(segment=listed, member=jia)
    shanghai = Segment.objects.create(name="上海")
    Condition.objects.create(segment=shanghai, field="city", operator="is", text="上海")
    campaign(name="名单礼", bonus_points=50, segment=listed)
    campaign(name="上海礼", bonus_points=30, segment=shanghai)
    return jia, yi, bing


def test_members_in_the_segment_get_the_campaign_and_others_do_not(people):
    jia, yi, bing = people
    for member in people:
        purchase_process(buy(member, "100"), at=NOW)
    assert (points(jia), points(yi), points(bing)) == (100 + 50 + 30, 100, 100 + 30)
    assert (points(jia, "名单礼"), points(bing, "名单礼"), points(bing, "上海礼")) == (50, 0, 30)


def test_an_import_wave_gives_what_one_purchase_at_a_time_gives_with_one_query_per_segment(people):
    jia, yi, bing = people
    purchases = [buy(member, "100") for member in people] + [buy(jia, "20", at=NOW + DAY)]
    assert batchable(selectors.rule_book())  # targeting a segment keeps the set-based path
    one_by_one, batched = both_ways(purchases)
    assert one_by_one == batched
    assert (points(jia), points(yi), points(bing)) == (180 + 20 + 50 + 30, 100, 130)
    # a wave asks each segment once, for the members whose purchase a campaign on it could reward
    book = selectors.rule_book()
    cases = [
        (
            selectors.purchase_fact(p, lines=False),
            selectors.member_states([p.member], book)[p.member_id](p.occurred_at),
        )
        for p in purchases[:3]
    ]
    with CaptureQueriesContext(connection) as queries:
        states = selectors.with_segments(cases, book)
    assert len(queries) == 2
    assert [sorted(s.segment_ids) for s in states] == [
        sorted(Segment.objects.filter(name__in=["名单", "上海"]).values_list("pk", flat=True)),
        [],
        [Segment.objects.get(name="上海").pk],
    ]


def test_a_campaign_that_cannot_apply_reads_no_segment(people):
    jia, _yi, _bing = people
    book = selectors.rule_book()
    elsewhere = buy(jia, "100", at=datetime.datetime(2025, 6, 1, tzinfo=NOW.tzinfo))  # before both campaigns
    state = selectors.member_states([jia], book)[jia.pk](elsewhere.occurred_at)
    fact = selectors.purchase_fact(elsewhere)
    with CaptureQueriesContext(connection) as queries:
        [after] = selectors.with_segments([(fact, state)], book)
    assert (len(queries), after.segment_ids) == (0, frozenset())


def test_the_api_and_the_import_give_the_same_points(people, partner_a):  # noqa: F811
    jia, _yi, bing = people
    for member in (jia, bing):
        served_by(partner_a, member)
    campaigns = Campaign.objects.filter(name__in=["名单礼", "上海礼"])
    now = datetime.datetime.now(tz=NOW.tzinfo)
    campaigns.update(starts_at=now - 2 * DAY, ends_at=now + DAY)
    by_api = {
        member.pk: partner_a.post(URL, body(member, order_number=f"A-{member.pk}")).json()["award"]["totals"]
        for member in (jia, bing)
    }
    assert by_api == {jia.pk: {"points": 180, "growth": 100}, bing.pk: {"points": 130, "growth": 100}}
    twins = [MemberFactory(city="上海"), MemberFactory(city="上海")]  # 甲 and 丙 again, by import
    SegmentMember.objects.create(segment=Segment.objects.get(name="名单"), member=twins[0])
    purchases = [buy(twin, "100", at=now - datetime.timedelta(hours=2)) for twin in twins]
    purchases_process_many(purchases, book=selectors.rule_book(), at=now)
    assert [points(twin) for twin in twins] == [180, 130]


def test_a_dynamic_segment_is_read_as_of_the_facts_time(db):
    """Windows end where the fact happens: the purchase itself never counts. 丁 comes back after
    a silent year (回归礼: silent for at least 30 days) and is rewarded once; 戊's second purchase
    is the first made after spending 100 in 30 days (常客礼)."""
    ding, wu = MemberFactory(), MemberFactory()
    silent = Segment.objects.create(name="沉默")
    Condition.objects.create(segment=silent, field="silent", operator="gte", days=30)
    regular = Segment.objects.create(name="常客")
    Condition.objects.create(segment=regular, field="spend", operator="gte", number=Decimal(100), days=30)
    campaign(name="回归礼", bonus_points=40, segment=silent)
    campaign(name="常客礼", bonus_points=25, segment=regular)
    old = buy(ding, "10", at=datetime.datetime(2025, 10, 1, tzinfo=NOW.tzinfo))  # before the campaigns
    purchases = [buy(ding, "60", at=NOW), buy(ding, "60", at=NOW + DAY)]
    purchases += [buy(wu, "100", at=NOW), buy(wu, "50", at=NOW + DAY)]
    for purchase in [old, *purchases]:
        purchase_process(purchase, at=NOW + 2 * DAY)
    # 丁: 10; then 60 + 40 (silent since 2025-10-01); then 60 (bought yesterday: not silent)
    assert (points(ding), points(ding, "回归礼")) == (10 + 100 + 60, 40)
    # 戊: 100 (nothing before it); then 50 + 25 (the 100 of yesterday is in the window)
    assert (points(wu), points(wu, "常客礼")) == (100 + 75, 25)


def test_the_simulation_gives_what_the_pipeline_gave(people):
    _jia, _yi, _bing = people
    for member in people:
        purchase_process(buy(member, "100"), at=NOW)
    listed, shanghai = Campaign.objects.get(name="名单礼"), Campaign.objects.get(name="上海礼")
    start, end = NOW - DAY, NOW + DAY
    assert campaign_simulate(listed, start=start, end=end).points == 50
    assert campaign_simulate(shanghai, start=start, end=end).points == 60
    assert campaign_simulate(shanghai, start=start, end=end).reached == 2


def test_a_dynamic_segment_without_conditions_cannot_be_targeted(db):
    empty = Segment.objects.create(name="空")
    target = Campaign(code="x", name="x", starts_at=NOW, ends_at=NOW + DAY, bonus_points=1, segment=empty)
    with pytest.raises(ValidationError) as refused:
        target.full_clean()
    assert "segment" in refused.value.message_dict
    static = Segment.objects.create(name="名单", kind=Segment.Kind.STATIC)
    target.segment = static
    target.full_clean()  # an empty list can be filled later


def test_a_campaign_for_a_segment_costs_a_purchase_one_query(partner_a, settings, monkeypatch):  # noqa: F811
    """The same purchase (the second of a member, rule book cached) with and without a live
    campaign for a dynamic segment: one query more, the segment's, for a member outside it."""
    settings.RULE_BOOK_CACHE_SECONDS = 60
    now = datetime.datetime.now(tz=NOW.tzinfo)

    def queries(member, number: str) -> int:
        monkeypatch.setattr(selectors, "_cached", None)
        partner_a.post(URL, body(member, order_number=f"{number}-0"))  # the book loaded, accounts made
        with CaptureQueriesContext(connection) as captured:
            assert partner_a.post(URL, body(member, order_number=f"{number}-1")).status_code == 201
        return len(captured)

    without = queries(served_by(partner_a, MemberFactory(city="北京")), "Q")
    shanghai = Segment.objects.create(name="上海")
    Condition.objects.create(segment=shanghai, field="city", operator="is", text="上海")
    campaign(name="上海礼", bonus_points=30, segment=shanghai, starts_at=now - DAY, ends_at=now + DAY)
    assert queries(served_by(partner_a, MemberFactory(city="北京")), "R") == without + 1
