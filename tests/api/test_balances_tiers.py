"""Balances, ledger and tier through the API: what the ledger services posted, for this partner's
members only."""

from __future__ import annotations

import datetime
import itertools

import pytest
from django.utils import timezone

from members.partners.models import Grant
from members.partners.services import member_link
from points.models import Account, Entry, Lot, PointType, Source
from points.policy import last_valid_day
from points.services import lots_expire_due, points_earn, points_spend
from tests.api.conftest import PartnerClient, make_partner
from tests.factories import MemberFactory
from tests.tiers import conftest as tiers_fixtures
from tests.tiers.conftest import grow
from tiers.selectors import tier_progress

pytestmark = pytest.mark.django_db

ladder = tiers_fixtures.ladder  # 普通会员, 银卡 1,000, 金卡 5,000, 钻石 20,000 growth

_keys = itertools.count()


def days(n: float) -> datetime.timedelta:
    return datetime.timedelta(days=n)


def member_of(client: PartnerClient, **kwargs):
    member = MemberFactory(**kwargs)
    member_link(partner=client.partner, member=member)
    return member


def earn(member, amount: int, at: datetime.datetime, *, code: str = "points", pending: bool = False):
    return points_earn(
        member=member, point_type=code, amount=amount, source=Source.PURCHASE,
        source_ref=f"order-{next(_keys)}", idempotency_key=f"api-test-{next(_keys)}", at=at,
        available_at=at + days(7) if pending else at,
    )  # fmt: skip


def url(member, what: str) -> str:
    return f"/api/v1/members/{member.member_number}/{what}/"


@pytest.fixture
def rolling(db) -> None:
    """积分 expire 12 months after they were earned (each lot on its own day)."""
    PointType.objects.filter(code="points").update(expiry_policy="rolling", expiry_period=12)


@pytest.fixture
def history(partner_a, rolling):
    """Earned, expired, pending, spent 积分, and some 成长值 (relative to now)."""
    now = timezone.now()
    member = member_of(partner_a)
    earn(member, 100, now - days(400))  # expired about a month ago
    assert lots_expire_due(now=now) == 1
    earn(member, 1000, now - days(30))
    earn(member, 500, now - days(10))
    earn(member, 200, now, pending=True)
    points_spend(member=member, point_type="points", amount=300, idempotency_key=f"spend-{next(_keys)}")
    earn(member, 50, now - days(3), code="growth")
    return member


def test_balances_are_what_the_ledger_posted(partner_a, history):
    response = partner_a.get(url(history, "balances"))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["member_number"] == history.member_number
    by_type = {row["point_type"]: row for row in body["balances"]}
    assert set(by_type) == set(PointType.objects.values_list("code", flat=True))
    first_lot = Lot.objects.filter(account__point_type__code="points", remaining__gt=0).order_by(
        "expires_at"
    )[0]
    assert by_type["points"] == {
        "point_type": "points",
        "name": PointType.objects.get(code="points").name,
        "redeemable": True,
        "available": 1200,
        "pending": 200,
        "earned": 1800,
        "spent": 300,
        "expired": 100,
        "next_expiry": {  # the spend took the soonest-expiring lot first: 700 of its 1000 are left
            "amount": 700,
            "date": last_valid_day(first_lot.expires_at).isoformat(),
            "expires_at": first_lot.expires_at.astimezone(timezone.get_current_timezone()).isoformat(),
        },
    }
    for code, row in by_type.items():
        account = Account.objects.get(member=history, point_type__code=code)
        assert [row[name] for name in ("available", "pending", "earned", "spent", "expired")] == [
            account.available, account.pending, account.earned, account.spent, account.expired,
        ]  # fmt: skip
    assert by_type["growth"]["available"] == 50
    assert by_type["growth"]["next_expiry"] is None  # growth never expires


def test_a_member_without_points_has_zeros(partner_a):
    member = member_of(partner_a)
    balances = partner_a.get(url(member, "balances")).json()["balances"]
    assert [b["point_type"] for b in balances] == list(
        PointType.objects.order_by("id").values_list("code", flat=True)
    )
    assert all(
        (b["available"], b["pending"], b["earned"], b["spent"], b["expired"], b["next_expiry"])
        == (0,) * 5 + (None,)
        for b in balances
    )


def test_ledger_is_newest_first_with_its_fields(partner_a, history):
    body = partner_a.get(url(history, "ledger")).json()
    entries = Entry.objects.filter(account__member=history).order_by("-id")
    assert [e["id"] for e in body["results"]] == [e.pk for e in entries]
    assert [e["kind"] for e in body["results"]] == ["earn", "spend", "earn", "earn", "earn", "expire", "earn"]
    newest = entries[0]
    assert body["results"][0] == {
        "id": newest.pk,
        "point_type": "growth",
        "kind": "earn",
        "amount": 50,
        "balance_after": 50,
        "source": "purchase",
        "reason": "",
        "created_at": newest.created_at.astimezone(timezone.get_current_timezone()).isoformat(),
    }
    assert body["results"][1]["amount"] == -300 and body["results"][1]["balance_after"] == 1400


def test_ledger_filters(partner_a, history):
    def kinds(**params):
        response = partner_a.get(url(history, "ledger"), params)
        assert response.status_code == 200, response.json()
        return [(e["point_type"], e["kind"], e["amount"]) for e in response.json()["results"]]

    assert kinds(point_type="growth") == [("growth", "earn", 50)]
    assert kinds(kind="spend") == [("points", "spend", -300)]
    assert kinds(point_type="points", kind="expire") == [("points", "expire", -100)]
    since = (timezone.now() - days(15)).isoformat()
    # the expiry entry is dated when the job ran (now)
    assert [k[2] for k in kinds(point_type="points", created_after=since)] == [-300, 200, 500, -100]
    assert [k[2] for k in kinds(created_before=since)] == [1000, 100]
    bad = partner_a.get(url(history, "ledger"), {"kind": "gift", "point_type": "nope"})
    assert bad.status_code == 400
    assert set(bad.json()["fields"]) == {"kind", "point_type"}


def test_ledger_pages_by_cursor_at_the_same_cost(partner_a, django_assert_num_queries):
    member = member_of(partner_a)
    now = timezone.now()
    earn(member, 1, now)
    # key, partner's member, one page: whatever the number of entries
    with django_assert_num_queries(3):
        assert len(partner_a.get(url(member, "ledger")).json()["results"]) == 1
    for i in range(29):
        earn(member, i + 2, now)
    with django_assert_num_queries(3):
        first = partner_a.get(url(member, "ledger")).json()
    assert [e["amount"] for e in first["results"]] == list(range(30, 0, -1))
    page = partner_a.get(url(member, "ledger"), {"page_size": 10}).json()
    assert [e["amount"] for e in page["results"]] == list(range(30, 20, -1))
    following = partner_a.get(page["next"]).json()
    assert [e["amount"] for e in following["results"]] == list(range(20, 10, -1))


def test_tier_and_progress(partner_a, ladder):
    member = member_of(partner_a)
    grow(member, 1200, timezone.now() - datetime.timedelta(minutes=1))
    response = partner_a.get(url(member, "tier"))
    assert response.status_code == 200, response.json()
    body = response.json()
    progress = tier_progress(member)
    assert body["member_number"] == member.member_number
    assert {k: body["tier"][k] for k in ("code", "name", "source")} == {
        "code": "silver",
        "name": "银卡",
        "source": "earned",
    }
    assert body["tier"]["until"] == progress.review_at.astimezone(timezone.get_current_timezone()).isoformat()
    shown = body["progress"]
    assert (shown["metric"], shown["unit"], shown["value"], shown["period_value"]) == (
        "growth",
        "growth",
        1200,
        1200,
    )
    assert shown["next_tier"] == {"code": "gold", "name": "金卡", "threshold": 5000}
    assert shown["needed_for_next"] == 3800
    assert shown["earned_tier"] == {"code": "silver", "name": "银卡"}
    assert (shown["keeps"], shown["needed_to_keep"]) == (True, 0)
    assert shown["deadline"] == progress.deadline.isoformat()
    assert shown["next_step"] == "3,800 more growth to reach 金卡."
    assert shown["outlook"] == progress.outlook() and shown["held_by"] == ""


def test_the_entry_tier_is_never_lost(partner_a, ladder):
    member = member_of(partner_a)
    body = partner_a.get(url(member, "tier")).json()
    assert (body["tier"]["code"], body["tier"]["until"]) == ("member", None)
    assert body["progress"]["next_tier"]["code"] == "silver"
    assert body["progress"]["needed_for_next"] == 1000


def test_another_partners_member_is_not_found(partner_a, partner_b, history, ladder):
    for what in ("balances", "ledger", "tier"):
        response = partner_b.get(url(history, what))
        assert response.status_code == 404, what
        assert response.json() == {"code": "not_found", "message": "Not found.", "fields": {}}
    assert partner_b.get("/api/v1/members/NOSUCH/balances/").status_code == 404


def test_each_endpoint_needs_its_grant(db, ladder):
    partner, key = make_partner("ro", "R001", grants=[Grant.MEMBERS_READ])
    client = PartnerClient(key, partner)
    member = member_of(client)
    for what in ("balances", "ledger", "tier"):
        refused = client.get(url(member, what))
        assert refused.status_code == 403, what
        assert refused.json()["code"] == "permission_denied"


def test_a_member_number_the_database_could_not_hold_is_404(partner_a):
    for what in ("balances", "ledger", "tier", "coupons"):
        assert partner_a.get(f"/api/v1/members/8%001/{what}/").status_code == 404
