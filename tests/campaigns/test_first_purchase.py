"""First-purchase campaigns (新会员首单礼): the member's earliest purchase by when it happened,
given once. A back-dated purchase that arrives after a later one earned the gift gets nothing;
purchases dated before enrolment are real (a POS import enrols the buyer after the sale, an old
CRM's history is real), so they count when deciding which purchase was first."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from benefits.models import Coupon
from campaigns.earning.batch import purchases_process_many
from campaigns.earning.pipeline import purchase_process
from campaigns.earning.previews import purchase_preview
from campaigns.models import AwardLine
from campaigns.selectors import rule_book
from members.models import Member
from tests.campaigns.conftest import buy, campaign
from tests.factories import MemberFactory
from tests.tiers.conftest import local

pytestmark = pytest.mark.django_db

ENROLLED = local(2026, 11, 11, 10, 0)
DAY = datetime.timedelta(days=1)


@pytest.fixture
def welcome(twenty_off):
    return campaign(name="新会员首单礼", bonus_points=200, first_purchase=True, benefit=twenty_off)


@pytest.fixture
def newcomer(db):
    member = MemberFactory(name="李娜")
    Member.objects.filter(pk=member.pk).update(created_at=ENROLLED)
    return Member.objects.get(pk=member.pk)


def gift(award, welcome) -> tuple[int, int]:
    """(points, coupons) the first-purchase campaign gave on this award."""
    lines = AwardLine.objects.filter(award=award, campaign=welcome)
    return sum(ln.amount for ln in lines), lines.exclude(coupon=None).count()


def test_a_back_dated_purchase_arriving_later_does_not_earn_the_gift_again(newcomer, welcome):
    after = purchase_process(buy(newcomer, "120", at=ENROLLED + datetime.timedelta(hours=2)), at=ENROLLED)
    assert gift(after, welcome) == (200, 1)

    # The day before enrolment, sent a week later: now the earliest, but the gift was given.
    back_dated = buy(newcomer, "80", at=ENROLLED - DAY)
    award = purchase_process(back_dated, at=ENROLLED + 7 * DAY)
    assert gift(award, welcome) == (0, 0)
    assert Coupon.objects.filter(member=newcomer).count() == 1
    assert award.lines.get(kind="base", point_type__code="points").amount == 80  # it still earns its base


def test_the_import_batch_path_follows_the_same_rule(newcomer, welcome):
    purchase_process(buy(newcomer, "120", at=ENROLLED + datetime.timedelta(hours=2)), at=ENROLLED)
    back_dated = buy(newcomer, "80", at=ENROLLED - DAY)
    [award] = purchases_process_many([back_dated], book=rule_book(), at=ENROLLED + 7 * DAY)
    assert gift(award, welcome) == (0, 0)
    assert Coupon.objects.filter(member=newcomer).count() == 1


def test_a_back_dated_purchase_earns_it_when_nothing_earned_it_before(newcomer, welcome):
    later = buy(newcomer, "120", at=ENROLLED + DAY)
    earlier = buy(newcomer, "80", at=ENROLLED + datetime.timedelta(hours=2))
    # Both recorded, the later one processed first: it is not the first purchase.
    assert gift(purchase_process(later, at=ENROLLED + 2 * DAY), welcome) == (0, 0)
    assert gift(purchase_process(earlier, at=ENROLLED + 2 * DAY), welcome) == (200, 1)


def test_a_purchase_dated_before_enrolment_is_the_first_when_it_is_the_earliest(newcomer, welcome):
    # A POS import enrols the buyer of yesterday's receipt today: that receipt is their first.
    yesterday = buy(newcomer, "150", at=ENROLLED - DAY)
    assert gift(purchase_process(yesterday, at=ENROLLED), welcome) == (200, 1)
    after = purchase_process(buy(newcomer, "100", at=ENROLLED + DAY), at=ENROLLED + DAY)
    assert gift(after, welcome) == (0, 0)


def test_history_from_an_old_crm_makes_the_member_no_first_time_buyer(newcomer, welcome):
    # Bought in 2024 (before enrolment here and before the campaign): earns no gift itself, and
    # the member's purchase after enrolment is not their first.
    old = buy(newcomer, "300", at=local(2024, 5, 1, 12, 0))
    assert gift(purchase_process(old, at=ENROLLED), welcome) == (0, 0)
    preview = purchase_preview(newcomer, channel="store", paid=Decimal("100"), at=ENROLLED + DAY)
    assert welcome.pk not in preview.outcome.matched
    now = purchase_process(buy(newcomer, "100", at=ENROLLED + DAY), at=ENROLLED + DAY)
    assert gift(now, welcome) == (0, 0)
    assert not Coupon.objects.filter(member=newcomer).exists()


def test_the_preview_promises_the_gift_only_when_the_pipeline_gives_it(newcomer, welcome):
    at = ENROLLED + datetime.timedelta(hours=2)
    preview = purchase_preview(newcomer, channel="store", paid=Decimal("120"), at=at)
    assert preview.outcome.coupons == [(welcome.pk, welcome.benefit_id)]
    assert gift(purchase_process(buy(newcomer, "120", at=at), at=at), welcome) == (200, 1)
    # A basket dated before the first purchase would be the earliest, but the gift is given.
    earlier = purchase_preview(newcomer, channel="store", paid=Decimal("80"), at=ENROLLED - DAY)
    assert welcome.pk not in earlier.outcome.matched and not earlier.outcome.coupons
