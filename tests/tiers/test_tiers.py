"""Tier status with the clock moved: upgrades at once, downgrades only at the period-end review
by the policy's rule, grace, manual overrides that end, anniversary and rolling windows."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from tests.factories import MemberFactory
from tests.tiers.conftest import grow, local, registered
from tiers.models import MemberTier, Source, TierChange, TierPolicy
from tiers.selectors import tier_progress
from tiers.services import overrides_end_due, tier_override, tier_override_end, tiers_review_due

pytestmark = pytest.mark.django_db

Window, Downgrade = TierPolicy.Window, TierPolicy.Downgrade


def tier_of(member) -> str:
    return MemberTier.objects.select_related("tier").get(member=member).tier.code


def earned_of(member) -> str:
    return MemberTier.objects.select_related("earned_tier").get(member=member).earned_tier.code


def reasons(member) -> list[tuple[str, str]]:
    return [(c.reason, c.to_tier.code) for c in TierChange.objects.filter(member=member).order_by("at", "id")]


@pytest.fixture
def calendar(ladder, set_policy):
    return set_policy(window=Window.CALENDAR, downgrade=Downgrade.ONE_LEVEL, grace_days=0)


@pytest.fixture
def gold_in_2026(calendar):
    """Reached 金卡 in March 2026 with 6,000 growth."""
    member = registered(MemberFactory(), local(2025, 6, 1))
    grow(member, 6000, local(2026, 3, 10))
    return member


def test_upgrade_happens_the_moment_the_member_qualifies(calendar):
    member = registered(MemberFactory(), local(2025, 6, 1))
    grow(member, 900, local(2026, 3, 1))
    assert not MemberTier.objects.filter(member=member, tier__rank__gt=0).exists()

    status = grow(member, 200, local(2026, 3, 2, 14, 30))

    assert status.tier.code == "silver" and status.source == Source.EARNED
    assert status.since == local(2026, 3, 2, 14, 30)
    grow(member, 4000, local(2026, 4, 1))
    assert tier_of(member) == "gold"
    assert reasons(member) == [("upgrade", "silver"), ("upgrade", "gold")]
    change = TierChange.objects.filter(member=member).first()
    assert change.metric == 5100 and change.from_tier.code == "silver"


def test_a_jump_over_several_tiers_is_one_upgrade(calendar):
    member = MemberFactory()
    status = grow(member, 25_000, local(2026, 5, 1))
    assert status.tier.code == "diamond"
    assert reasons(member) == [("upgrade", "diamond")]


def test_downgrade_waits_for_the_period_end_then_goes_one_level(gold_in_2026):
    member = gold_in_2026
    assert tiers_review_due(now=local(2027, 1, 1)) == 1  # review of 2026: 6,000 keeps 金卡
    assert tier_of(member) == "gold"
    grow(member, 500, local(2027, 2, 1))  # 2027: far below 金卡
    assert tiers_review_due(now=local(2027, 12, 31, 23, 59)) == 0  # mid-period: nothing happens
    assert tier_of(member) == "gold"

    assert tiers_review_due(now=local(2028, 1, 1)) == 1
    status = MemberTier.objects.get(member=member)
    assert status.tier.code == "silver" and status.since == local(2028, 1, 1)
    assert status.period_start == local(2028, 1, 1) and status.valid_until == local(2029, 1, 1)
    assert reasons(member)[-1] == ("downgrade", "silver")
    assert TierChange.objects.get(member=member, reason="downgrade").metric == 500


def test_running_the_review_twice_changes_nothing_more(gold_in_2026):
    member = gold_in_2026
    tiers_review_due(now=local(2028, 1, 2))  # two periods behind: 2026 kept, 2027 (nothing) drops one
    changes = TierChange.objects.filter(member=member).count()

    assert tiers_review_due(now=local(2028, 1, 2)) == 0
    assert tier_of(member) == "silver"
    assert TierChange.objects.filter(member=member).count() == changes


def test_straight_to_the_tier_still_qualified_for(gold_in_2026, set_policy):
    set_policy(downgrade=Downgrade.TO_QUALIFIED)
    member = gold_in_2026
    grow(member, 300, local(2027, 6, 1))
    tiers_review_due(now=local(2028, 1, 1))
    assert tier_of(member) == "member"


def test_one_level_never_drops_below_what_was_qualified_for(calendar, ladder):
    member = MemberFactory()
    grow(member, 25_000, local(2026, 1, 5))
    grow(member, 6_000, local(2027, 3, 1))  # 2027 qualifies for 金卡: one level down is 金卡
    tiers_review_due(now=local(2028, 1, 1))
    assert tier_of(member) == "gold"


def test_never_downgrade_keeps_the_tier(gold_in_2026, set_policy):
    set_policy(downgrade=Downgrade.NEVER)
    tiers_review_due(now=local(2029, 1, 1))
    assert tier_of(gold_in_2026) == "gold"


def test_grace_gives_extra_days_to_requalify_and_keeps_the_tier_meanwhile(gold_in_2026, set_policy):
    set_policy(grace_days=31)
    member = gold_in_2026
    tiers_review_due(now=local(2027, 2, 1))  # 2026 reviewed: kept
    grow(member, 500, local(2027, 5, 1))

    assert tiers_review_due(now=local(2028, 1, 15)) == 0  # in grace: no review yet
    progress = tier_progress(member, at=local(2028, 1, 15))
    assert progress.tier.code == "gold" and progress.in_grace
    assert progress.outlook() == "Drops to 银卡 unless 4,500 more growth by 2028-01-31."

    grow(member, 4_600, local(2028, 1, 20))  # inside the grace: counts for 2027's review
    assert tiers_review_due(now=local(2028, 2, 1)) == 1
    assert tier_of(member) == "gold"


def test_without_requalifying_in_grace_the_downgrade_comes_at_its_end(gold_in_2026, set_policy):
    set_policy(grace_days=31)
    member = gold_in_2026
    tiers_review_due(now=local(2027, 2, 1))
    tiers_review_due(now=local(2028, 1, 31, 23, 59))
    assert tier_of(member) == "gold"
    tiers_review_due(now=local(2028, 2, 1))
    assert tier_of(member) == "silver"


def test_progress_shows_the_path_upwards_and_what_the_review_will_do(gold_in_2026):
    member = gold_in_2026
    tiers_review_due(now=local(2027, 1, 1))
    grow(member, 3_800, local(2027, 6, 1))

    progress = tier_progress(member, at=local(2027, 6, 2))

    assert (progress.tier.code, progress.growth_in_period) == ("gold", 3_800)
    assert progress.next_step() == "16,200 more growth to reach 钻石."
    assert progress.outlook() == "Drops to 银卡 unless 1,200 more growth by 2027-12-31."
    grow(member, 1_200, local(2027, 7, 1))
    assert tier_progress(member, at=local(2027, 7, 2)).outlook() == "Keeps 金卡 at the review on 2027-12-31."


def test_progress_of_a_member_who_never_moved(calendar):
    member = MemberFactory()
    progress = tier_progress(member, at=local(2026, 11, 22))
    assert progress.tier.code == "member" and progress.keeps
    assert progress.next_step() == "1,000 more growth to reach 银卡."
    assert not MemberTier.objects.filter(member=member).exists()  # reading creates nothing


def test_refunded_growth_no_longer_counts(calendar, ladder):
    from points.services import points_reverse

    member = MemberFactory()
    grow(member, 6_000, local(2026, 3, 1))
    points_reverse(
        member=member,
        point_type="growth",
        source="purchase",
        source_ref=_last_growth_ref(member),
        idempotency_key="refund-1",
        at=local(2026, 4, 1),
    )
    assert tier_of(member) == "gold"  # never downgraded mid-period
    tiers_review_due(now=local(2027, 1, 1))
    assert tier_of(member) == "silver"


def _last_growth_ref(member) -> str:
    from points.models import Entry

    return Entry.objects.filter(account__member=member, account__point_type__code="growth").last().source_ref


class TestOverride:
    def test_status_match_holds_until_its_end_date_then_the_earned_tier_returns(
        self, calendar, ladder, operator
    ):
        member = MemberFactory()
        grow(member, 1_500, local(2026, 3, 1))
        status = tier_override(
            member,
            tier=ladder["diamond"],
            until=local(2026, 6, 1),
            reason="Status match: airline gold",
            actor=operator,
            at=local(2026, 3, 5),
        )
        assert (status.tier.code, status.source, status.earned_tier.code) == ("diamond", "override", "silver")
        grow(member, 4_000, local(2026, 4, 1))  # earns 金卡 meanwhile: override still wins
        assert (tier_of(member), earned_of(member)) == ("diamond", "gold")

        assert overrides_end_due(now=local(2026, 5, 31)) == 0
        assert overrides_end_due(now=local(2026, 6, 1)) == 1
        assert overrides_end_due(now=local(2026, 6, 1)) == 0
        status = MemberTier.objects.get(member=member)
        assert (status.tier.code, status.source, status.override_tier) == ("gold", "earned", None)
        change = TierChange.objects.filter(member=member).first()
        assert (change.reason, change.from_tier.code, change.to_tier.code) == (
            "override_ended",
            "diamond",
            "gold",
        )
        override = TierChange.objects.get(member=member, reason="override")
        assert override.actor == operator and override.note == "Status match: airline gold"

    def test_an_override_can_demote_and_be_ended_early(self, calendar, ladder, operator):
        member = MemberFactory()
        grow(member, 6_000, local(2026, 3, 1))
        tier_override(
            member, tier=ladder["member"], until=local(2026, 12, 1), reason="Fraud review", actor=operator,
            at=local(2026, 3, 2),
        )  # fmt: skip
        assert tier_of(member) == "member"
        tier_override_end(member, actor=operator, reason="Cleared", at=local(2026, 3, 10))
        assert tier_of(member) == "gold"

    def test_an_override_to_the_tier_already_held_is_still_recorded(self, calendar, ladder, operator):
        member = MemberFactory()
        grow(member, 6_000, local(2026, 3, 1))
        reason = "Keep 金卡 through 2027"
        tier_override(
            member,
            tier=ladder["gold"],
            until=local(2027, 6, 1),
            reason=reason,
            actor=operator,
            at=local(2026, 3, 2),
        )
        change = TierChange.objects.filter(member=member).first()
        assert (change.reason, change.actor, change.note) == ("override", operator, "Keep 金卡 through 2027")

    def test_an_override_needs_a_future_end_and_a_reason(self, calendar, ladder, operator):
        member = MemberFactory()
        with pytest.raises(ValidationError) as caught:
            tier_override(
                member, tier=ladder["gold"], until=local(2026, 1, 1), reason=" ", actor=operator,
                at=local(2026, 3, 1),
            )  # fmt: skip
        assert set(caught.value.message_dict) == {"override_until", "override_reason"}
        assert not MemberTier.objects.filter(member=member, override_tier__isnull=False).exists()


class TestAnniversary:
    @pytest.fixture
    def member(self, ladder, set_policy):
        set_policy(window=Window.ANNIVERSARY, downgrade=Downgrade.TO_QUALIFIED)
        return registered(MemberFactory(), local(2025, 5, 20, 15, 0))

    def test_the_period_runs_from_registration_anniversary_to_anniversary(self, member):
        status = grow(member, 1_500, local(2025, 8, 1))
        assert (status.period_start, status.valid_until) == (local(2025, 5, 20), local(2026, 5, 20))

        grow(member, 200, local(2026, 5, 19, 23, 0))  # last hours of the first membership year
        assert tiers_review_due(now=local(2026, 5, 19, 23, 59)) == 0
        assert tiers_review_due(now=local(2026, 5, 20)) == 1
        status = MemberTier.objects.get(member=member)
        assert status.tier.code == "silver"
        assert (status.period_start, status.valid_until) == (local(2026, 5, 20), local(2027, 5, 20))

        assert tiers_review_due(now=local(2027, 5, 20)) == 1  # the second year earned nothing
        assert tier_of(member) == "member"

    def test_growth_before_the_anniversary_does_not_count_for_the_next_year(self, member):
        grow(member, 1_500, local(2026, 5, 19))  # first year
        tiers_review_due(now=local(2026, 5, 20))
        assert tier_of(member) == "silver"
        progress = tier_progress(member, at=local(2026, 5, 21))
        assert progress.growth_in_period == 0
        assert progress.outlook() == "Drops to 普通会员 unless 1,000 more growth by 2027-05-19."

    def test_a_leap_day_member_is_reviewed_on_28_february(self, ladder, set_policy):
        set_policy(window=Window.ANNIVERSARY)
        member = registered(MemberFactory(), local(2024, 2, 29, 9, 0))
        status = grow(member, 1_200, local(2026, 3, 1))
        assert (status.period_start, status.valid_until) == (local(2026, 2, 28), local(2027, 2, 28))


def test_rolling_window_holds_a_tier_twelve_months_from_reaching_it(ladder, set_policy):
    set_policy(window=Window.ROLLING, downgrade=Downgrade.TO_QUALIFIED)
    member = MemberFactory()
    grow(member, 700, local(2025, 9, 1))
    status = grow(member, 400, local(2026, 4, 10, 12, 0))  # 1,100 in the last 12 months
    assert status.tier.code == "silver"
    assert (status.period_start, status.valid_until) == (local(2026, 4, 10, 12, 0), local(2027, 4, 10, 12, 0))

    grow(member, 5_000, local(2027, 9, 1), refresh=False)  # after the review date
    assert tiers_review_due(now=local(2027, 4, 10, 12, 0)) == 1  # [2026-04-10, 2027-04-10): nothing
    assert tier_of(member) == "member"


class TestSpendAndPurchaseMetrics:
    """Programmes that qualify on money spent or on visits, net of refunds."""

    @staticmethod
    def buy(member, number: str, paid: str, at):
        from decimal import Decimal

        from members.purchases.services import purchase_record

        purchase, _ = purchase_record(
            member=member, source="pos", order_number=number, channel="store", occurred_at=at,
            gross_amount=Decimal(paid), paid_amount=Decimal(paid), now=at,
        )  # fmt: skip
        return purchase

    def test_cny_spent_less_refunds_decides_the_tier(self, ladder, set_policy):
        from decimal import Decimal

        from members.purchases.services import refund_record
        from tiers.services import tier_refresh

        set_policy(metric=TierPolicy.Metric.SPEND, window=Window.CALENDAR, downgrade=Downgrade.TO_QUALIFIED)
        member = MemberFactory()
        big = self.buy(member, "A1", "1200.50", local(2026, 3, 1))
        assert tier_refresh(member, at=local(2026, 3, 1, 1)).tier.code == "silver"
        progress = tier_progress(member, at=local(2026, 3, 2))
        assert progress.next_step() == "3,800 more CNY of spending to reach 金卡."

        when = local(2026, 4, 1)
        refund_record(
            purchase=big, source="pos", refund_number="R1", amount=Decimal("300"), occurred_at=when, now=when
        )
        assert tiers_review_due(now=local(2027, 1, 1)) == 1  # 900.50 kept after the refund: below 银卡
        assert tier_of(member) == "member"

    def test_purchase_count_ignores_fully_refunded_orders(self, ladder, set_policy):
        from decimal import Decimal

        from members.purchases.services import refund_record
        from tiers.models import Tier
        from tiers.services import tier_refresh

        Tier.objects.filter(code="silver").update(threshold=3)
        set_policy(
            metric=TierPolicy.Metric.PURCHASES, window=Window.CALENDAR, downgrade=Downgrade.TO_QUALIFIED
        )
        member = MemberFactory()
        orders = [self.buy(member, f"B{i}", "50", local(2026, 5, i + 1)) for i in range(3)]
        assert tier_refresh(member, at=local(2026, 5, 10)).tier.code == "silver"
        when = local(2026, 6, 1)
        refund_record(
            purchase=orders[0],
            source="pos",
            refund_number="R9",
            amount=Decimal("50"),
            occurred_at=when,
            now=when,
        )
        assert tier_progress(member, at=local(2026, 6, 2)).outlook() == (
            "Drops to 普通会员 unless 1 more purchases by 2026-12-31."
        )
        tiers_review_due(now=local(2027, 1, 1))
        assert tier_of(member) == "member"
