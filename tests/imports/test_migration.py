"""Moving in from an old CRM (数据迁移): members, opening balances, tiers and coupons from a
generated export (tests/fixtures/old_crm.py), with planted rows that must stay out.

The figures the files add up to are counted by the generator as it writes them; the report,
the ledger and the tables must agree with them, and a second run must add nothing.
"""

from __future__ import annotations

import csv
import datetime
import io
import itertools

import pytest
from django.db.models import Sum
from django.utils import timezone

from benefits.coupons import coupon_find
from benefits.models import Benefit, Coupon
from campaigns.models import Award
from members.imports.legacy import reconciliation
from members.imports.models import ImportProfile, ImportRow, ImportRun
from members.imports.reasons import errors_texts
from members.imports.runner import import_confirm, import_run_execute
from members.imports.services import import_preview
from members.models import Member
from members.purchases.models import MemberEvent, Purchase
from points.models import Account, CarriedTotals, Entry, Lot
from points.selectors import ledger_problems
from tests.fixtures.old_crm import old_crm_export
from tests.imports.conftest import expected_points, sample_bytes
from tiers.models import MemberTier, Tier, TierChange

pytestmark = pytest.mark.django_db
PEOPLE = 120


@pytest.fixture
def programme(db):
    Tier.objects.create(rank=1, code="silver", name="银卡", threshold=1000)
    Tier.objects.create(rank=2, code="gold", name="金卡", threshold=5000)
    Benefit.objects.create(name="满100减10", kind=Benefit.Kind.AMOUNT_OFF, value=10, min_spend=100)


@pytest.fixture
def export():
    return old_crm_export(PEOPLE, seed=7, today=timezone.localdate(), planted=True)


def run(code: str, data: bytes, *, user=None) -> ImportRun:
    preview = import_preview(profile=ImportProfile.objects.get(code=code), data=data, file_name=f"{code}.csv")
    import_confirm(run=preview, user=user, start=False)
    return import_run_execute(preview.pk)


def moved_in(programme, export, operator=None) -> dict[str, ImportRun]:
    runs = {"members": run("members", export.members, user=operator)}
    for kind in ("balances", "tiers", "coupons"):
        runs[kind] = run(f"migration_{kind}", getattr(export, kind), user=operator)
    return runs


def rejected(run: ImportRun) -> dict[str, list[str]]:
    """Rejected rows by the value of the row that tells them apart, with the reasons' words."""
    out = {}
    for row in run.rows.filter(state=ImportRow.State.REJECTED):
        words = errors_texts(row.errors)
        out[row.number] = [text for texts in words.values() for text in texts]
    return out


def test_the_dry_run_shows_what_would_come_in_and_posts_nothing(programme, export):
    run("members", export.members)
    preview = import_preview(
        profile=ImportProfile.objects.get(code="migration_balances"), data=export.balances, file_name="b.csv"
    )
    lines = {line.label: line for line in reconciliation(preview).lines}
    expected = export.expected
    assert list(lines) == ["积分", "成长值", "金币"]  # the programme's types first, then the file's own
    line = lines["积分"]
    assert line.in_file == expected.points_in_file
    # 300 expired, −120 owed, 0, 80 of nobody: rejected; the rest would come in
    assert line.rejected == 300 - 120 + 80
    assert line.waiting == expected.points_good
    assert (lines["金币"].rejected, lines["成长值"].rejected) == (50, 900)
    assert line.posted == line.held == 0
    assert not Entry.objects.filter(kind=Entry.Kind.OPENING).exists()


def test_balances_come_in_lot_by_lot_with_their_dates_and_the_totals_balance(programme, export):
    runs = moved_in(programme, export)
    expected = export.expected
    balances = runs["balances"]
    report = reconciliation(balances)
    line = report.lines[0]
    assert line.label == "积分" and report.balanced
    assert (line.in_file, line.posted, line.held) == (
        expected.points_in_file,
        expected.points_good,
        expected.points_good,
    )
    assert balances.rows_rejected == expected.rejected["balances"]
    held = Account.objects.filter(point_type__code="points").aggregate(n=Sum("available"))["n"]
    assert held == expected.points_good
    assert (
        Lot.objects.filter(source="migration", account__point_type__code="points").count()
        == expected.lots_good
    )
    assert ledger_problems() == {}
    # the file's first lot, by hand: its points, its member, and its expiry date (the last day
    # it is valid: gone from the next midnight)
    row = first_row(export.balances)
    lot = Lot.objects.get(entry__source_ref=f"import:{balances.pk}:2")
    assert lot.account.member == member_named(row)
    assert lot.amount == lot.remaining == int(row[3].replace(",", ""))
    expires = datetime.datetime.strptime(row[5], "%Y/%m/%d").date()
    assert timezone.localtime(lot.expires_at).date() == expires + datetime.timedelta(days=1)
    assert timezone.localtime(lot.available_at).date() == datetime.date.fromisoformat(row[4])
    assert lot.status == Lot.Status.AVAILABLE
    # lifetime totals: the old system's, counted on the accounts and reconciled
    assert CarriedTotals.objects.aggregate(n=Sum("earned"))["n"] == expected.lifetime_earned


def test_the_planted_rows_say_why_they_stayed_out(programme, export):
    runs = moved_in(programme, export)
    reasons = " | ".join(text for texts in rejected(runs["balances"]).values() for text in texts)
    for words in ("nothing to bring in", "negative balance", "Unknown point type “金币”", "No member has",
                  "bring it in with the tiers file"):  # fmt: skip
        assert words in reasons, words
    tiers = " | ".join(text for texts in rejected(runs["tiers"]).values() for text in texts)
    assert "The tier ended on" in tiers and "Unknown tier “钻石卡”" in tiers
    coupons = " | ".join(text for texts in rejected(runs["coupons"]).values() for text in texts)
    assert "The coupon expired on" in coupons and "is not a coupon code" in coupons


def test_a_second_run_adds_nothing(programme, export):
    moved_in(programme, export)
    entries, coupons, changes = Entry.objects.count(), Coupon.objects.count(), TierChange.objects.count()
    again = {
        kind: run(f"migration_{kind}", getattr(export, kind)) for kind in ("balances", "tiers", "coupons")
    }
    assert (Entry.objects.count(), Coupon.objects.count(), TierChange.objects.count()) == (
        entries,
        coupons,
        changes,
    )
    line = reconciliation(again["balances"]).lines[0]
    assert (line.posted, line.held, line.already) == (0, 0, export.expected.points_good)
    assert line.balanced
    assert again["coupons"].rows_duplicate == export.expected.coupons_good
    assert ledger_problems() == {}


def test_tiers_come_in_with_their_period_and_no_upgrade_reward(programme, export):
    runs = moved_in(programme, export)
    expected = export.expected
    statuses = MemberTier.objects.filter(member__tier_changes__reason=TierChange.Reason.MIGRATION)
    assert statuses.count() == expected.tiers_good
    growth = Entry.objects.filter(kind=Entry.Kind.OPENING, account__point_type__code="growth")
    assert growth.aggregate(n=Sum("amount"))["n"] == expected.growth_good
    assert not Award.objects.exists()  # no upgrade reward, no campaign
    line = {line.label: line for line in reconciliation(runs["tiers"]).lines}
    assert line["成长值"].held == expected.growth_good
    assert line["Members given their tier"].held == expected.tiers_good
    # the first member with a tier, by hand from the file
    first = first_row(export.tiers)
    status = MemberTier.objects.get(member=member_named(first))
    until = datetime.date.fromisoformat(first[3])
    assert (status.tier.name, status.earned_tier.name) == (first[2], first[2])
    assert timezone.localtime(status.valid_until).date() == until + datetime.timedelta(days=1)


def first_row(data: bytes) -> list[str]:
    return next(itertools.islice(csv.reader(io.StringIO(data.decode("gb18030"))), 1, None))


def member_named(row: list[str]) -> Member:
    """The member a row of the export names: by card, or by phone (stored as +86...)."""
    return Member.objects.get(identities__value=row[0] or f"+86{row[1]}")


def test_coupons_come_in_with_their_codes_and_can_be_redeemed_at_the_till(programme, export):
    moved_in(programme, export)
    coupons = Coupon.objects.filter(origin=Coupon.Origin.MIGRATION)
    assert coupons.count() == export.expected.coupons_good
    first = first_row(export.coupons)
    coupon = coupon_find(first[2].lower())  # typed at the till in lower case, dash and all
    assert coupon is not None and coupon.status == Coupon.Status.ISSUED
    assert timezone.localtime(coupon.valid_until).date() == datetime.date.fromisoformat(
        first[5]
    ) + datetime.timedelta(days=1)


def test_history_purchases_are_recorded_without_earning(programme, sample_stores):
    """A profile with "award points" off: the old system's receipts are history, earned there."""
    profile = ImportProfile.objects.get(code="pos_receipts_gbk")
    profile.pk, profile.code, profile.builtin, profile.earns = None, "old_pos_history", False, False
    profile.save()
    done = run("old_pos_history", sample_bytes("pos_receipts_gbk"))
    _points, sales, _returns = expected_points(sample_bytes("pos_receipts_gbk"), rejected=set(rejected(done)))
    assert done.purchases_created == Purchase.objects.count() == sales > 100
    assert done.members_created > 0
    assert not Entry.objects.exists() and not Award.objects.exists()
    assert not MemberEvent.objects.exists()  # joining then was no registration today


def test_import_file_prints_the_report(programme, export, tmp_path):
    from io import StringIO

    from django.core.management import call_command

    run("members", export.members)
    path = tmp_path / "coupons.csv"
    path.write_bytes(export.coupons)
    out = StringIO()
    with pytest.raises(SystemExit):  # rows were rejected: exit 1
        call_command("import_file", str(path), profile="migration_coupons", stdout=out)
    text = out.getvalue()
    good = export.expected.coupons_good
    assert f"优惠券: {good + 2:,} in the file = {good:,} brought in + 0 before + 2 rejected" in text
    assert "(accounted for)" in text


def test_finance_sees_the_balances_moved_in_not_issued(programme, export):
    """The roll-forward of the month of the move: the opening lots are "moved in", not points
    issued (which is what the programme cost counts)."""
    from campaigns.insight.finance import roll_forward
    from campaigns.insight.rollups import day_rollup

    moved_in(programme, export)
    today = timezone.localdate()
    day_rollup(today)
    month = today.replace(day=1)
    row = {r.point_type.code: r for r in roll_forward(month, month)}["points"]
    assert row.moves["moved_in"] == row.closing == export.expected.points_good
    assert row.moves["issued"] == 0


def test_a_member_number_merged_since_names_the_survivor(programme, operator):
    """The old CRM knew two records of one person; they were merged here before the move: a lot
    of the absorbed number lands on the survivor."""
    from tests.factories import MemberFactory
    from tests.oneid.conftest import merged

    survivor, absorbed = MemberFactory(), MemberFactory()
    merged(survivor, absorbed, by=operator)
    data = f"会员号,积分,到期日期\r\n{absorbed.member_number},700,2099-12-31\r\n".encode("gb18030")
    done = run("migration_balances", data)
    assert done.rows_done == 1 and done.rows_rejected == 0
    assert Account.objects.get(member=survivor, point_type__code="points").available == 700
