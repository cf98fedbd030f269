"""Webhooks end to end, with a local receiver: signatures verify with the documented snippet, a
receiver that fails three times gets the event once it recovers, a partner never receives
another partner's member, rotation overlaps, and a dead worker's claim is delivered again."""

from __future__ import annotations

import datetime
import inspect
import json
from pathlib import Path

import pytest
from django.utils import timezone

from members.partners.services import member_link
from members.services import member_update
from members.webhooks.delivery import LEASE, events_claim, signature_header, webhooks_deliver_due
from members.webhooks.models import EventType, WebhookEvent
from members.webhooks.services import Fact, endpoint_rotate_secret, events_redeliver, webhook_emit
from points.services import points_earn
from tests.factories import MemberFactory
from tests.webhooks.conftest import make_partner, subscribe
from tests.webhooks.receiver import verify

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
PUBLIC = "http://93.184.215.14/hook"  # a public address: saved without a DNS lookup


def earn(member, amount: int, key: str, at: datetime.datetime | None = None) -> None:
    points_earn(member=member, point_type="points", amount=amount, source="purchase", source_ref=key,
                idempotency_key=key, at=at, available_at=at)  # fmt: skip


def test_the_documented_snippet_is_the_one_tested():
    assert inspect.getsource(verify) in (ROOT / "docs" / "api.md").read_text()


def test_a_local_receiver_verifies_the_signature_of_a_points_change(receiver):
    partner = make_partner("brandpos", first_party=True)
    _endpoint, secret = subscribe(partner, receiver.url + "/hooks", [EventType.POINTS_CHANGED])
    member = MemberFactory()
    earn(member, 120, "order-1")

    assert webhooks_deliver_due() == 1
    (got,) = receiver.received
    signature = got.headers["X-Loyalty-Signature"]
    assert verify(secret, signature, got.body)
    assert not verify("whsec_wrong", signature, got.body)
    assert not verify(secret, signature, got.body.replace(b"120", b"999"))  # tampered
    body = got.json
    assert got.path == "/hooks"
    assert got.headers["X-Loyalty-Event"] == "points.changed"
    assert got.headers["X-Loyalty-Event-Id"] == body["id"]
    assert body["type"] == "points.changed"
    assert body["member"] == member.member_number
    assert body["sequence"] == 1
    # pending until the return window ends
    assert body["data"] == {
        "point_type": "points",
        "kind": "earn",
        "change": 120,
        "available": 0,
        "pending": 120,
    }
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts, event.response_code) == ("delivered", 1, 204)


def test_a_signature_older_than_five_minutes_is_refused(receiver):
    partner = make_partner("brandpos", first_party=True)
    endpoint, secret = subscribe(partner, receiver.url)
    body = b'{"id":"x"}'
    stale = int(timezone.now().timestamp()) - 301
    assert not verify(secret, signature_header(endpoint, body, stale, timezone.now()), body)
    fresh = int(timezone.now().timestamp()) - 299
    assert verify(secret, signature_header(endpoint, body, fresh, timezone.now()), body)


def test_a_receiver_failing_three_times_gets_the_event_once_it_recovers(receiver):
    partner = make_partner("brandpos", first_party=True)
    subscribe(partner, receiver.url, [EventType.POINTS_CHANGED])
    t0 = timezone.now()
    earn(MemberFactory(), 50, "order-1", at=t0)
    receiver.fail_next = 3

    def deliver(after: float) -> int:
        return webhooks_deliver_due(now=t0 + datetime.timedelta(seconds=after))

    assert deliver(0) == 0  # 1st attempt: 500, next in 30 s
    assert deliver(29) == 0 and len(receiver.received) == 1  # not due yet
    assert deliver(30) == 0  # 2nd: 500, next in 60 s
    assert deliver(89) == 0 and len(receiver.received) == 2
    assert deliver(90) == 0  # 3rd: 500, next in 120 s
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts, event.response_code) == ("pending", 3, 500)
    assert event.next_try_at == t0 + datetime.timedelta(seconds=210)
    assert deliver(210) == 1  # recovered
    assert deliver(10_000) == 0  # and nothing is sent again
    assert [r.headers["X-Loyalty-Event-Id"] for r in receiver.received] == [str(event.event_id)] * 4
    event.refresh_from_db()
    assert (event.status, event.attempts, event.response_code, event.last_error) == ("delivered", 4, 204, "")


def test_retries_stop_after_24_hours_and_an_operator_can_send_again(receiver):
    partner = make_partner("brandpos", first_party=True)
    subscribe(partner, receiver.url, [EventType.POINTS_CHANGED])
    t0 = timezone.now()
    earn(MemberFactory(), 50, "order-1", at=t0)
    receiver.fail_next = 1000
    moment = t0
    for _ in range(100):
        webhooks_deliver_due(now=moment)
        event = WebhookEvent.objects.get()
        if event.status == "failed":
            break
        moment = event.next_try_at
    # waits of 30 s, 1, 2 … 32 min (7 tries: the 8th at 63.5 min), then hourly: the 30th try at
    # 23 h 3.5 min fails for good, as the next would be past 24 hours
    assert (event.status, event.attempts) == ("failed", 30)
    assert moment - t0 == datetime.timedelta(hours=23, minutes=3, seconds=30)
    receiver.fail_next = 0
    assert events_redeliver([event.pk], now=moment) == 1
    assert webhooks_deliver_due(now=moment) == 1
    assert WebhookEvent.objects.get().status == "delivered"


def test_a_partner_never_receives_another_partners_member(receiver):
    mall, franchise = make_partner("mall"), make_partner("franchise")
    brand = make_partner("brand", first_party=True)
    subscribe(mall, receiver.url + "/mall")
    subscribe(franchise, receiver.url + "/franchise")
    subscribe(brand, receiver.url + "/brand")
    alice, bob = MemberFactory(name="Alice"), MemberFactory(name="Bob")
    member_link(partner=mall, member=alice)
    member_link(partner=franchise, member=bob)
    earn(alice, 10, "a-1")
    earn(bob, 20, "b-1")
    member_update(member=alice, city="上海")
    member_update(member=bob, city="北京")

    webhooks_deliver_due()
    seen: dict[str, list[tuple[str, str]]] = {}
    for got in receiver.received:
        seen.setdefault(got.path, []).append((got.json["type"], got.json["member"]))
    a, b = alice.member_number, bob.member_number
    assert sorted(seen["/mall"]) == [("member.updated", a), ("points.changed", a)]
    assert sorted(seen["/franchise"]) == [("member.updated", b), ("points.changed", b)]
    # the brand's own system sees everyone, enrolments included (before any link existed)
    assert sorted(seen["/brand"]) == sorted(
        [("member.created", a), ("member.created", b), ("points.changed", a), ("points.changed", b),
         ("member.updated", a), ("member.updated", b)]
    )  # fmt: skip


def test_sequence_numbers_count_per_partner_and_member():
    mall, brand = make_partner("mall"), make_partner("brand", first_party=True)
    subscribe(mall, PUBLIC)
    subscribe(brand, PUBLIC)
    alice, bob = MemberFactory(), MemberFactory()
    member_link(partner=mall, member=alice)
    for i in range(3):
        earn(alice, 10, f"a-{i}")
    earn(bob, 10, "b-0")
    rows = WebhookEvent.objects.order_by("pk").values_list(
        "partner__code", "member_id", "event_type", "sequence"
    )
    assert [r for r in rows if r[0] == "mall"] == [("mall", alice.pk, "points.changed", n) for n in (1, 2, 3)]
    brand_rows = [(m, t, n) for p, m, t, n in rows if p == "brand"]
    assert brand_rows == [
        (alice.pk, "member.created", 1),
        (bob.pk, "member.created", 1),
        (alice.pk, "points.changed", 2),
        (alice.pk, "points.changed", 3),
        (alice.pk, "points.changed", 4),
        (bob.pk, "points.changed", 2),
    ]


def test_emitting_a_fact_again_adds_nothing():
    brand = make_partner("brand", first_party=True)
    subscribe(brand, PUBLIC, [EventType.POINTS_EXPIRING])
    member = MemberFactory()
    facts = [Fact(member.pk, "lot-1", {"points": 5})]
    assert webhook_emit(EventType.POINTS_EXPIRING, facts) == 1
    assert webhook_emit(EventType.POINTS_EXPIRING, facts) == 0
    assert WebhookEvent.objects.count() == 1


def test_no_subscriber_costs_one_query(django_assert_num_queries):
    member = MemberFactory()
    with django_assert_num_queries(1):
        assert webhook_emit(EventType.POINTS_CHANGED, lambda: [Fact(member.pk, "x", {})]) == 0


def test_during_a_rotation_both_secrets_verify_and_only_the_new_one_after(receiver):
    partner = make_partner("brandpos", first_party=True)
    endpoint, old = subscribe(partner, receiver.url, [EventType.POINTS_CHANGED])
    now = timezone.now()
    new = endpoint_rotate_secret(endpoint=endpoint, now=now)
    endpoint.refresh_from_db()
    body = b'{"id":"1"}'
    stamp = int(now.timestamp())
    during = signature_header(endpoint, body, stamp, now + datetime.timedelta(hours=23))
    assert during.count("v1=") == 2
    assert verify(old, during, body) and verify(new, during, body)
    after = signature_header(endpoint, body, stamp, now + datetime.timedelta(hours=24, seconds=1))
    assert after.count("v1=") == 1
    assert verify(new, after, body) and not verify(old, after, body)
    # and a real delivery during the overlap carries both
    earn(MemberFactory(), 5, "o-1")
    webhooks_deliver_due()
    (got,) = receiver.received
    assert verify(old, got.headers["X-Loyalty-Signature"], got.body)
    assert verify(new, got.headers["X-Loyalty-Signature"], got.body)


def test_a_worker_killed_mid_batch_loses_nothing(receiver):
    partner = make_partner("brandpos", first_party=True)
    subscribe(partner, receiver.url, [EventType.POINTS_CHANGED])
    t0 = timezone.now()
    for i in range(3):
        earn(MemberFactory(), 10 + i, f"o-{i}", at=t0)
    claimed = events_claim(limit=10, now=t0)  # the worker claims the batch, then dies
    assert len(claimed) == 3
    assert webhooks_deliver_due(now=t0 + LEASE - datetime.timedelta(seconds=1)) == 0  # still its lease
    assert receiver.received == []
    assert webhooks_deliver_due(now=t0 + LEASE + datetime.timedelta(seconds=1)) == 3
    assert sorted(json.loads(r.body)["data"]["change"] for r in receiver.received) == [10, 11, 12]
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"delivered"}
