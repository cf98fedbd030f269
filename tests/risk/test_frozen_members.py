"""A frozen member neither earns nor spends (issue 21): what they buy is recorded and its award
held for review until they are unfrozen and an approver releases it; spends, transfers and
rewards are refused with ``member_frozen``. Through the API, an import and the services; the
ledger stays exact throughout."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from campaigns.earning.reviews import award_release
from campaigns.models import AwardReview
from members.errors import MemberFrozen
from members.models import Identity, Member
from points.models import Account
from points.selectors import ledger_problems
from points.services import points_spend, points_transfer
from tests.api import conftest as api_fixtures
from tests.api.test_purchases import body, served_by
from tests.api.test_rewards_coupons import member_of, redeem
from tests.benefits import conftest as benefits_fixtures
from tests.benefits.conftest import give_points
from tests.factories import MemberFactory, StoreFactory
from tests.imports.conftest import run_file

pytestmark = pytest.mark.django_db

partner_a = api_fixtures.partner_a
twenty_off = benefits_fixtures.twenty_off
voucher = benefits_fixtures.voucher


@pytest.fixture(autouse=True)
def books_balance(db):
    yield
    assert ledger_problems() == {}


def freeze(member: Member) -> Member:
    Member.objects.filter(pk=member.pk).update(status=Member.Status.FROZEN)
    member.refresh_from_db()
    return member


def points(member: Member, code: str = "points") -> int:
    account = Account.objects.filter(member=member, point_type__code=code).first()
    return account.available + account.pending if account else 0


def test_a_frozen_members_purchase_through_the_api_is_recorded_and_held(partner_a, approver):
    member = freeze(served_by(partner_a))
    response = partner_a.post("/api/v1/purchases/", body(member))
    assert response.status_code == 201, response.json()
    review = response.json()["review"]
    assert review["status"] == "held" and review["reason"] == "member_frozen"
    assert review["points"]["points"] == 100  # 1 point per CNY of 100.00 paid, not posted
    assert "frozen" in review["message"]
    assert points(member) == 0 and points(member, "growth") == 0
    held = AwardReview.objects.get()
    with pytest.raises(MemberFrozen):  # not while frozen: unfreeze first
        award_release(held, actor=approver)
    assert points(member) == 0
    Member.objects.filter(pk=member.pk).update(status=Member.Status.ACTIVE)
    award_release(held, actor=User.objects.get(pk=approver.pk))
    assert points(member) == 100 and points(member, "growth") == 100


def test_a_frozen_member_redeems_no_reward_through_the_api(partner_a, voucher):
    member = member_of(partner_a, 10_000)
    freeze(member)
    response = redeem(partner_a, voucher, member)
    assert response.status_code == 422 and response.json()["code"] == "member_frozen"
    assert points(member) == 10_000


def test_no_points_leave_or_reach_a_frozen_members_account():
    yesterday = timezone.now() - datetime.timedelta(days=1)
    frozen, other = MemberFactory(), MemberFactory()
    give_points(frozen, 500, at=yesterday)
    give_points(other, 500, at=yesterday)
    freeze(frozen)
    with pytest.raises(MemberFrozen):
        points_spend(member=frozen, point_type="points", amount=100, idempotency_key="s1")
    with pytest.raises(MemberFrozen):  # out of it
        points_transfer(from_member=frozen, to_member=other, point_type="points", amount=100,
                        idempotency_key="t1")  # fmt: skip
    with pytest.raises(MemberFrozen):  # into it
        points_transfer(from_member=other, to_member=frozen, point_type="points", amount=100,
                        idempotency_key="t2")  # fmt: skip
    assert (points(frozen), points(other)) == (500, 500)


HEADER = "门店编码,门店名称,小票号,会员卡号,手机号,交易类型,应收金额,实收金额,交易时间,原小票号,收银员\r\n"


def test_an_import_holds_a_frozen_members_rows_and_earns_the_others(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    StoreFactory(code="S0001", name="北京1店")
    frozen, active = MemberFactory(), MemberFactory()
    Identity.objects.create(member=frozen, kind=Identity.Kind.CARD, value="VIP00000001")
    Identity.objects.create(member=active, kind=Identity.Kind.CARD, value="VIP00000002")
    freeze(frozen)
    rows = [
        "S0001,北京1店,S0001-1,VIP00000001,,销售,128.00,128.00,2026-11-01 10:00:00,,C01",
        "S0001,北京1店,S0001-2,VIP00000002,,销售,88.00,88.00,2026-11-01 11:00:00,,C01",
        "S0001,北京1店,S0001-3,VIP00000001,,销售,50.00,50.00,2026-11-01 12:00:00,,C01",
    ]
    run = run_file("pos_receipts_gbk", (HEADER + "\r\n".join(rows) + "\r\n").encode("gbk"))
    assert run.status == "done", run.status
    assert points(frozen) == 0 and points(active) == 88
    held = AwardReview.objects.filter(member=frozen, reason=AwardReview.Reason.MEMBER_FROZEN)
    assert sorted(review.points["points"] for review in held) == [50, 128]
