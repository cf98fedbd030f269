"""Idempotency-Key: a retry gets the first response byte for byte; one effect, even in a race."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import connection

from members.models import Member
from members.partners.models import IdempotentRequest
from members.partners.services import idempotency_purge
from tests.api.conftest import PartnerClient, make_partner
from tests.concurrency import race

URL = "/api/v1/members/"
BODY = {"mobile": "13812345678", "name": "张伟"}


@pytest.mark.django_db
def test_retry_gets_the_first_response_back(partner_a):
    first = partner_a.post(URL, BODY, idempotency_key="k-1")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    reordered = {"name": "张伟", "mobile": "13812345678"}
    again = partner_a.post(URL, reordered, idempotency_key="k-1")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert Member.objects.count() == 1


@pytest.mark.django_db
def test_same_key_other_body_or_endpoint_is_a_conflict(partner_a):
    partner_a.post(URL, BODY, idempotency_key="k-1")
    other = partner_a.post(URL, {**BODY, "name": "李娜"}, idempotency_key="k-1")
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_conflict"
    elsewhere = partner_a.post("/api/v1/members/lookup/", BODY, idempotency_key="k-1")
    assert elsewhere.status_code in (405, 409)
    assert Member.objects.get().name == "张伟"


@pytest.mark.django_db
def test_the_key_is_required_and_well_formed(partner_a):
    missing = partner_a.post(URL, BODY, idempotency_key=None)
    assert missing.status_code == 400
    assert missing.json()["code"] == "idempotency_key_missing"
    assert "Idempotency-Key" in missing.json()["fields"]
    assert partner_a.post(URL, BODY, idempotency_key="has space").status_code == 400
    assert partner_a.post(URL, BODY, idempotency_key="x" * 256).status_code == 400
    assert Member.objects.count() == 0


@pytest.mark.django_db
def test_a_refusal_is_replayed_too_but_a_new_key_runs_again(partner_a):
    bad = partner_a.post(URL, {"mobile": "12345"}, idempotency_key="k-bad")
    assert bad.status_code == 400
    assert partner_a.post(URL, {"mobile": "12345"}, idempotency_key="k-bad")["Idempotent-Replayed"] == "true"
    assert partner_a.post(URL, {"mobile": "13812345678"}, idempotency_key="k-good").status_code == 201


@pytest.mark.django_db
def test_keys_are_per_partner(partner_a, partner_b):
    a = partner_a.post(URL, BODY, idempotency_key="shared")
    b = partner_b.post(URL, {"mobile": "13900000000"}, idempotency_key="shared")
    assert (a.status_code, b.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in b
    assert Member.objects.count() == 2


@pytest.mark.django_db
def test_stored_answers_are_kept_at_least_a_day(partner_a):
    import datetime

    from django.utils import timezone

    partner_a.post(URL, BODY, idempotency_key="k-1")
    assert idempotency_purge(timezone.now() + datetime.timedelta(hours=24)) == 0
    assert partner_a.post(URL, BODY, idempotency_key="k-1")["Idempotent-Replayed"] == "true"
    assert idempotency_purge(timezone.now() + datetime.timedelta(hours=49)) == 1
    assert IdempotentRequest.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="races need PostgreSQL")
def test_twenty_concurrent_identical_posts_have_one_effect():
    partner, key = make_partner("race", "R001")
    idem = str(uuid.uuid4())

    def post(_i: int):
        response = PartnerClient(key, partner).post(URL, BODY, idempotency_key=idem)
        return response.status_code, response.content, response.get("Idempotent-Replayed")

    results = race(20, post)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert {(status, content) for status, content, _ in results} == {(201, results[0][1])}
    assert sorted(str(replayed) for _, _, replayed in results) == ["None"] + ["true"] * 19
    assert Member.objects.count() == 1
    assert json.loads(results[0][1])["mobile"] == "+8613812345678"


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="races need PostgreSQL")
def test_twenty_concurrent_identical_purchases_earn_once():
    import datetime

    from django.utils import timezone

    from campaigns.models import Award
    from members.partners.services import member_link
    from members.purchases.models import Purchase
    from points.models import Account, Entry
    from points.selectors import ledger_problems
    from tests.factories import MemberFactory

    partner, key = make_partner("race", "R001")
    member = MemberFactory()
    member_link(partner=partner, member=member)
    idem = str(uuid.uuid4())
    body = {
        "member_number": member.member_number, "order_number": "R-1", "channel": "store", "store": "R001",
        "occurred_at": (timezone.now() - datetime.timedelta(minutes=5)).isoformat(),
        "gross_amount": "188.00", "paid_amount": "188.00",
    }  # fmt: skip

    def post(_i: int):
        response = PartnerClient(key, partner).post("/api/v1/purchases/", body, idempotency_key=idem)
        return response.status_code, response.content

    results = race(20, post)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert set(results) == {(201, results[0][1])}  # 20 identical responses
    assert json.loads(results[0][1])["award"]["totals"]["points"] == 188
    assert Purchase.objects.count() == Award.objects.count() == 1
    assert Account.objects.get(member=member, point_type__code="points").pending == 188
    assert Entry.objects.filter(account__member=member, account__point_type__code="points").count() == 1
    assert ledger_problems() == {}
