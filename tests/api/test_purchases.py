"""Purchases, refunds, events and previews through the API: what the rules give, explained, once."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import Award, AwardLine, BehaviourRule
from members.models import Member
from members.partners.models import Grant, IdempotentRequest
from members.partners.services import member_link
from members.purchases.models import EventType, MemberEvent, Purchase, Refund
from members.purchases.services import purchase_record
from points.models import Account, Entry, PointType
from tests.api.conftest import PartnerClient, make_partner
from tests.campaigns.conftest import campaign
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/purchases/"
EVENTS = "/api/v1/events/"
PREVIEW = "/api/v1/preview/"


def ago(**delta) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(**delta)


WHEN = ago(hours=2).isoformat()  # one moment, so that a re-sent order is the same order


def served_by(client: PartnerClient, member: Member | None = None) -> Member:
    """A member the client's partner may see (as if it had enrolled or found them)."""
    member = member or MemberFactory(name="张伟")
    member_link(partner=client.partner, member=member)
    return member


@pytest.fixture
def member_a(partner_a) -> Member:
    return served_by(partner_a)


def body(member: Member, **fields) -> dict:
    return {
        "member_number": member.member_number,
        "order_number": "A-0001",
        "channel": "store",
        "store": "A001",
        "occurred_at": WHEN,
        "gross_amount": "120.00",
        "paid_amount": "100.00",
        **fields,
    }


def db_balances(member: Member) -> list[dict]:
    """Every point type's figures from the accounts (zeros without one), as ``brief`` shows them."""
    accounts = {a.point_type_id: a for a in Account.objects.filter(member=member)}
    return [
        {"point_type": t.code, "available": getattr(accounts.get(t.pk), "available", 0),
         "pending": getattr(accounts.get(t.pk), "pending", 0)}
        for t in PointType.objects.order_by("id")
    ]  # fmt: skip


def brief(balances: list[dict]) -> list[dict]:
    """The response's balances (the same shape as GET .../balances/), reduced to what we check."""
    return [{k: b[k] for k in ("point_type", "available", "pending")} for b in balances]


def counts() -> dict[str, int]:
    models = (Purchase, Refund, MemberEvent, Award, AwardLine, Entry, Account)
    return {model.__name__: model.objects.count() for model in models}


def summary(lines: list[dict]) -> list[tuple]:
    return [(line["kind"], line["point_type"], line["amount"], line["campaign"]) for line in lines]


# --- posting purchases --------------------------------------------------------------------------


def test_purchase_earns_what_the_default_rules_give(partner_a, member_a):
    response = partner_a.post(URL, body(member_a, shipping_amount="10", lines=[
        {"sku": "A1", "name": "拿铁", "category": "饮品", "quantity": "2", "amount": "100.00"},
    ]))  # fmt: skip
    assert response.status_code == 201, response.json()
    result = response.json()
    assert result["purchase"] == {
        "order_number": "A-0001",
        "channel": "store",
        "store": "A001",
        "occurred_at": timezone.localtime(datetime.datetime.fromisoformat(WHEN)).isoformat(),
        "gross_amount": "120.00",
        "paid_amount": "100.00",
        "refunded_amount": "0.00",
        "status": "completed",
        "member_number": member_a.member_number,
    }
    # 1 point and 1 growth per CNY of the eligible amount (paid less shipping), rounded down
    assert result["award"] == {
        "lines": [
            {"kind": "base", "point_type": "points", "amount": 90, "campaign": None,
             "explanation": "Base +90 积分 (1 per CNY of 90.00 CNY, Round down)"},
            {"kind": "base", "point_type": "growth", "amount": 90, "campaign": None,
             "explanation": "Base +90 成长值 (1 per CNY of 90.00 CNY, Round down)"},
        ],
        "totals": {"points": 90, "growth": 90},
    }  # fmt: skip
    assert brief(result["balances"]) == db_balances(member_a)
    assert brief(result["balances"]) == [
        {"point_type": "points", "available": 0, "pending": 90},  # the 7-day return window
        {"point_type": "growth", "available": 0, "pending": 90},
    ]
    assert result["tier"] == {"code": "member", "name": "普通会员"}
    stored = Purchase.objects.get()
    assert (stored.source, stored.store.code, stored.shipping_amount) == ("api:pos-a", "A001", Decimal(10))
    assert stored.lines.get().quantity == 2
    assert Award.objects.get().purchase == stored


def test_a_live_campaign_adds_its_line_under_its_name(partner_a, member_a):
    campaign(name="双11双倍积分", multiplier=Decimal(2), starts_at=ago(days=1), ends_at=ago(days=-1))
    result = partner_a.post(URL, body(member_a)).json()
    lines = result["award"]["lines"]
    assert summary(lines) == [
        ("base", "points", 100, None),
        ("base", "growth", 100, None),
        ("campaign", "points", 100, "双11双倍积分"),
    ]
    assert lines[2]["explanation"] == "双11双倍积分 +100 积分"
    assert result["award"]["totals"] == {"points": 200, "growth": 100}
    assert brief(result["balances"]) == db_balances(member_a)
    assert result["balances"][0]["pending"] == 200


def test_explanations_follow_the_request_language(partner_a, member_a):
    response = partner_a.post(URL, body(member_a), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert (
        response.json()["award"]["lines"][0]["explanation"]
        == "基础规则 +100 积分（每元 1，计入金额 100.00 元，向下取整）"
    )


def test_the_same_order_again_is_200_and_earns_once_a_changed_one_is_409(partner_a, partner_b, member_a):
    first = partner_a.post(URL, body(member_a))
    before = counts()
    again = partner_a.post(URL, body(member_a))  # a new Idempotency-Key: found by its order number
    assert again.status_code == 200, again.json()
    assert "Idempotent-Replayed" not in again
    assert again.json() == first.json()
    assert counts() == before
    changed = partner_a.post(URL, body(member_a, paid_amount="90.00"))
    assert changed.status_code == 409
    assert changed.json()["code"] == "conflict"
    assert "order_number" in changed.json()["fields"]
    assert counts() == before
    assert Purchase.objects.get().paid_amount == Decimal(100)
    # order numbers are unique per partner: the same one from another partner is another purchase
    served_by(partner_b, member_a)
    other = partner_b.post(URL, body(member_a, store="B001"))
    assert other.status_code == 201
    assert other.json()["balances"][0]["pending"] == 200


def test_a_retry_with_the_same_key_is_replayed(partner_a, member_a):
    first = partner_a.post(URL, body(member_a), idempotency_key="order-A-0001")
    again = partner_a.post(URL, body(member_a), idempotency_key="order-A-0001")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert Award.objects.count() == 1


def test_garbage_is_400_naming_each_field_and_writes_nothing(partner_a, partner_b, member_a):
    before = counts()
    bad = partner_a.post(URL, body(member_a, paid_amount="12abc", store="B001", channel="tmall"))
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid"
    assert set(bad.json()["fields"]) == {
        "paid_amount",
        "store",
        "channel",
    }  # B's store, a channel not granted
    future = partner_a.post(URL, body(member_a, occurred_at=ago(days=-1).isoformat()))
    assert future.status_code == 400
    assert set(future.json()["fields"]) == {"occurred_at"}
    assert future.json()["fields"]["occurred_at"][0].endswith("is in the future.")
    more_paid = partner_a.post(URL, body(member_a, paid_amount="130.00"))
    assert set(more_paid.json()["fields"]) == {"paid_amount"}
    lines = partner_a.post(URL, body(member_a, lines=[{"sku": "A1", "amount": "-1"}, {"amount": "1"}]))
    assert set(lines.json()["fields"]) == {"lines[0].amount", "lines[1].sku"}
    server_owned = partner_a.post(URL, body(member_a, status="refunded", refunded_amount="0"))
    assert set(server_owned.json()["fields"]) == {"status", "refunded_amount"}
    slash = partner_a.post(URL, body(member_a, order_number="2026/11/01"))
    assert set(slash.json()["fields"]) == {"order_number"}
    ancient = partner_a.post(URL, body(member_a, occurred_at="0001-01-01T00:00:00"))
    assert set(ancient.json()["fields"]) == {"occurred_at"}
    assert counts() == before


def test_only_the_partners_own_members_and_grants(partner_a, partner_b, member_a):
    stranger = partner_b.post(URL, body(member_a, store="B001"))  # B never served this member
    assert stranger.status_code == 404
    assert stranger.json()["code"] == "not_found"
    partner, key = make_partner("ro", "R001", grants=[Grant.PURCHASES_READ])
    read_only = PartnerClient(key, partner)
    served_by(read_only, member_a)
    assert read_only.post(URL, body(member_a, store="R001")).status_code == 403
    assert read_only.post(PREVIEW, {"member_number": member_a.member_number, "channel": "store",
                                    "paid_amount": "1"}, idempotency_key=None).status_code == 403  # fmt: skip
    assert read_only.get(URL).status_code == 200
    assert Purchase.objects.count() == 0


def test_a_closed_member_earns_nothing_and_the_purchase_is_not_kept(partner_a, member_a):
    Member.objects.filter(pk=member_a.pk).update(status=Member.Status.CLOSED)
    before = counts()
    response = partner_a.post(URL, body(member_a))
    assert (response.status_code, response.json()["code"]) == (422, "member_closed")
    assert "member" in response.json()["fields"]
    assert counts() == before  # recorded and awarded together, or neither


# --- reading purchases --------------------------------------------------------------------------


def record(partner_client: PartnerClient, member: Member, number: str, *, at=None, store=None) -> Purchase:
    purchase, _ = purchase_record(
        member=member, source=partner_client.partner.source, order_number=number, channel="store",
        store=store, occurred_at=at or ago(hours=3), gross_amount=Decimal(50), paid_amount=Decimal(50),
    )  # fmt: skip
    return purchase


def test_list_is_the_partners_own_with_filters_and_constant_queries(
    partner_a, partner_b, member_a, django_assert_num_queries
):
    other = served_by(partner_a)
    store = partner_a.partner.stores.get()
    record(partner_a, member_a, "L-1", at=ago(days=3), store=store)
    record(partner_b, served_by(partner_b), "B-1")
    with django_assert_num_queries(2):  # the key (with partner and user), the page
        one = partner_a.get(URL)
    assert [p["order_number"] for p in one.json()["results"]] == ["L-1"]
    for n in range(2, 21):
        record(partner_a, other if n % 2 else member_a, f"L-{n}")
    with django_assert_num_queries(2):
        twenty = partner_a.get(URL)
    assert len(twenty.json()["results"]) == 20
    assert twenty.json()["results"][0]["order_number"] == "L-20"  # newest first

    def numbers(**params) -> set[str]:
        return {p["order_number"] for p in partner_a.get(URL, params).json()["results"]}

    assert numbers(member_number=other.member_number) == {f"L-{n}" for n in range(3, 21, 2)}
    assert numbers(store="A001") == {"L-1"}
    assert numbers(occurred_before=ago(days=1).isoformat()) == {"L-1"}
    assert len(numbers(occurred_after=ago(days=1).isoformat())) == 19
    assert numbers(status="refunded") == set()
    assert [p["order_number"] for p in partner_b.get(URL).json()["results"]] == ["B-1"]
    paged = partner_a.get(URL, {"page_size": 15}).json()
    assert len(paged["results"]) == 15
    assert len(partner_a.get(paged["next"]).json()["results"]) == 5


def test_detail_shows_what_it_earned_and_its_refunds(partner_a, partner_b, member_a):
    partner_a.post(URL, body(member_a))
    partner_a.post(f"{URL}A-0001/refunds/", {"refund_number": "R-1", "amount": "25.00", "occurred_at": WHEN})
    detail = partner_a.get(f"{URL}A-0001/")
    assert detail.status_code == 200
    result = detail.json()
    assert result["purchase"]["status"] == "partly_refunded"
    assert result["purchase"]["refunded_amount"] == "25.00"
    assert result["award"]["totals"] == {"points": 100, "growth": 100}
    [refund] = result["refunds"]
    assert (refund["refund_number"], refund["amount"]) == ("R-1", "25.00")
    assert refund["award"]["totals"] == {"points": -25, "growth": -25}
    assert partner_a.get(f"{URL}NOPE/").status_code == 404
    assert partner_b.get(f"{URL}A-0001/").status_code == 404  # another partner's order


# --- refunds ------------------------------------------------------------------------------------


def test_refunds_take_back_in_proportion_and_never_more_than_was_paid(partner_a, member_a):
    partner_a.post(URL, body(member_a))
    refunds = f"{URL}A-0001/refunds/"
    first = partner_a.post(refunds, {"refund_number": "R-1", "amount": "40.00", "occurred_at": WHEN})
    assert first.status_code == 201, first.json()
    result = first.json()
    assert result["refund"] == {
        "refund_number": "R-1", "order_number": "A-0001", "amount": "40.00",
        "occurred_at": timezone.localtime(datetime.datetime.fromisoformat(WHEN)).isoformat(),
    }  # fmt: skip
    assert (result["purchase"]["status"], result["purchase"]["refunded_amount"]) == (
        "partly_refunded",
        "40.00",
    )
    assert summary(result["award"]["lines"]) == [("base", "points", -40, None), ("base", "growth", -40, None)]
    assert result["award"]["lines"][0]["explanation"].endswith("refund of 40% of the purchase")
    assert result["award"]["totals"] == {"points": -40, "growth": -40}
    assert brief(result["balances"]) == db_balances(member_a)
    assert brief(result["balances"])[0] == {"point_type": "points", "available": 0, "pending": 60}
    assert result["tier"] == {"code": "member", "name": "普通会员"}

    again = partner_a.post(refunds, {"refund_number": "R-1", "amount": "40.00", "occurred_at": WHEN})
    assert again.status_code == 200
    assert again.json()["award"] == result["award"]
    before = counts()
    too_much = partner_a.post(refunds, {"refund_number": "R-2", "amount": "60.01", "occurred_at": WHEN})
    assert too_much.status_code == 422
    assert too_much.json()["code"] == "too_much"
    assert too_much.json()["message"] == "Only 60.00 CNY of this purchase is left to refund."
    changed = partner_a.post(refunds, {"refund_number": "R-1", "amount": "41.00", "occurred_at": WHEN})
    assert changed.status_code == 409
    assert counts() == before

    rest = partner_a.post(refunds, {"refund_number": "R-2", "amount": "60.00", "occurred_at": WHEN}).json()
    assert rest["award"]["totals"] == {"points": -60, "growth": -60}
    assert rest["purchase"]["status"] == "refunded"
    assert (
        brief(rest["balances"])
        == db_balances(member_a)
        == [
            {"point_type": "points", "available": 0, "pending": 0},
            {"point_type": "growth", "available": 0, "pending": 0},
        ]
    )


def test_refund_garbage_is_400(partner_a, member_a):
    partner_a.post(URL, body(member_a))
    refunds = f"{URL}A-0001/refunds/"
    bad = partner_a.post(refunds, {"refund_number": "", "amount": "x", "occurred_at": "yesterday"})
    assert bad.status_code == 400
    assert set(bad.json()["fields"]) == {"refund_number", "amount", "occurred_at"}
    early = partner_a.post(
        refunds, {"refund_number": "R-1", "amount": "1", "occurred_at": ago(days=2).isoformat()}
    )
    assert early.status_code == 400
    assert set(early.json()["fields"]) == {"occurred_at"}  # before the purchase
    assert Refund.objects.count() == 0


def test_another_partners_order_cannot_be_refunded(partner_a, partner_b, member_a):
    partner_a.post(URL, body(member_a))
    served_by(partner_b, member_a)  # even when B serves the same member
    before = counts()
    response = partner_b.post(
        f"{URL}A-0001/refunds/", {"refund_number": "R-1", "amount": "10", "occurred_at": WHEN}
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert counts() == before
    purchase = Purchase.objects.get()
    assert (purchase.status, purchase.refunded_amount) == ("completed", Decimal(0))


# --- events -------------------------------------------------------------------------------------


def test_an_event_earns_its_behaviour_rule_once(partner_a, partner_b, member_a):
    sign_in = EventType.objects.get(code="daily_sign_in")
    points = PointType.objects.get(code="points")
    BehaviourRule.objects.create(event_type=sign_in, point_type=points, amount=5, cap=1, cap_period="ever")
    event = {"member_number": member_a.member_number, "event_type": "daily_sign_in", "key": "signin:1",
             "occurred_at": WHEN, "channel": "wechat_mp"}  # fmt: skip
    first = partner_a.post(EVENTS, event)
    assert first.status_code == 201, first.json()
    result = first.json()
    assert result["event"] == {
        "event_type": "daily_sign_in", "key": "signin:1", "channel": "wechat_mp",
        "occurred_at": result["event"]["occurred_at"], "member_number": member_a.member_number,
    }  # fmt: skip
    assert summary(result["award"]["lines"]) == [("behaviour", "points", 5, None)]
    assert result["award"]["lines"][0]["explanation"] == "每日签到 +5 积分"
    assert result["award"]["totals"] == {"points": 5, "growth": 0}
    assert (
        brief(result["balances"])
        == db_balances(member_a)
        == [
            {"point_type": "points", "available": 5, "pending": 0},
            {"point_type": "growth", "available": 0, "pending": 0},
        ]
    )

    again = partner_a.post(EVENTS, event)
    assert again.status_code == 200
    assert again.json()["award"] == result["award"]
    capped = partner_a.post(EVENTS, {**event, "key": "signin:2"}).json()
    assert capped["award"]["totals"]["points"] == 0
    assert capped["award"]["lines"][0]["explanation"] == "每日签到: limit of 1 ever reached, nothing given"
    assert Account.objects.get(member=member_a).available == 5

    before = counts()
    other = served_by(partner_a)
    taken = partner_a.post(EVENTS, {**event, "member_number": other.member_number})
    assert taken.status_code == 409  # the key was recorded for another member
    garbage = partner_a.post(EVENTS, {**event, "event_type": "nope", "channel": "tmall", "key": "k"})
    assert garbage.status_code == 400
    assert set(garbage.json()["fields"]) == {"channel"}  # the serializer's check comes first
    unknown = partner_a.post(EVENTS, {**event, "event_type": "nope", "key": "k"})
    assert set(unknown.json()["fields"]) == {"event_type"}
    assert partner_b.post(EVENTS, {**event, "key": "k"}).status_code == 404  # not B's member
    assert counts() == before


def test_event_channel_defaults_to_the_partners_first(partner_a, member_a):
    response = partner_a.post(EVENTS, {"member_number": member_a.member_number, "event_type": "share",
                                       "key": "share:1", "occurred_at": WHEN})  # fmt: skip
    assert response.status_code == 201
    assert response.json()["event"]["channel"] == "store"
    assert response.json()["award"] == {"lines": [], "totals": {"points": 0, "growth": 0}}


# --- preview ------------------------------------------------------------------------------------


def test_preview_gives_what_the_purchase_will_and_writes_nothing(partner_a, member_a):
    campaign(
        name="饮品加赠", bonus_points=8, categories=["饮品"], starts_at=ago(days=1), ends_at=ago(days=-1)
    )
    basket = {
        "member_number": member_a.member_number, "channel": "store", "store": "A001", "paid_amount": "88.80",
        "lines": [{"sku": "A1", "category": "饮品", "amount": "88.80"}],
    }  # fmt: skip
    before = counts()
    keys = IdempotentRequest.objects.count()
    preview = partner_a.post(PREVIEW, basket, idempotency_key=None)  # changes nothing: no key needed
    assert preview.status_code == 200, preview.json()
    assert counts() == before
    assert IdempotentRequest.objects.count() == keys
    assert summary(preview.json()["lines"]) == [
        ("base", "points", 88, None),
        ("base", "growth", 88, None),
        ("campaign", "points", 8, "饮品加赠"),
    ]
    assert preview.json()["totals"] == {"points": 96, "growth": 88}
    purchase = partner_a.post(URL, body(
        member_a, gross_amount="88.80", paid_amount="88.80",
        lines=[{"sku": "A1", "category": "饮品", "amount": "88.80"}], occurred_at=timezone.now().isoformat(),
    )).json()  # fmt: skip
    assert purchase["award"] == preview.json()  # preview == actual, explanations included


def test_preview_checks_its_input(partner_a, partner_b, member_a):
    basket = {"member_number": member_a.member_number, "channel": "store", "paid_amount": "10"}
    bad = partner_a.post(PREVIEW, {**basket, "paid_amount": "ten", "store": "B001", "lines": [{"sku": "A"}]})
    assert bad.status_code == 400
    assert set(bad.json()["fields"]) == {"paid_amount", "store", "lines[0].amount"}
    more = partner_a.post(PREVIEW, {**basket, "gross_amount": "5"})
    assert set(more.json()["fields"]) == {"paid_amount"}
    assert partner_b.post(PREVIEW, basket).status_code == 404


def test_event_keys_are_each_partners_own_and_registration_counts_once(partner_a, partner_b, member_a):
    member_link(partner=partner_b.partner, member=member_a)  # the customer uses both
    share = {
        "member_number": member_a.member_number,
        "event_type": "share",
        "key": "k-1",
        "occurred_at": WHEN,
    }
    assert partner_a.post(EVENTS, share).status_code == 201
    # B's "k-1" is B's own event, not a conflict with A's (nor a way to learn A's keys)
    b_event = partner_b.post(EVENTS, share)
    assert b_event.status_code == 201
    assert b_event.json()["event"]["key"] == "k-1"
    assert MemberEvent.objects.filter(event_type__code="share").count() == 2
    joined = {**share, "event_type": "registration"}
    first = partner_a.post(EVENTS, {**joined, "key": "r-1"})
    assert first.status_code == 201
    # a second registration of the same member, by anyone and with any key, is the same event
    again = partner_b.post(EVENTS, {**joined, "key": "r-2"})
    assert again.status_code == 200
    assert again.json()["award"] == first.json()["award"]  # the same award, not a second one
    assert MemberEvent.objects.filter(event_type__code="registration").count() == 1
