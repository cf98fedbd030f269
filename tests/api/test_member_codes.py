"""Member codes: issued by a first-party partner for the member's app, redeemed once by a
third-party partner at the till (links the member and opens a visit); the partner's kind chosen
in the admin. partner_a is first-party (it stands for the brand's app), partner_b third-party."""

from __future__ import annotations

import datetime
import json
import uuid

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from members.models import Member
from members.partners.codes import member_code_redeem, member_codes_purge
from members.partners.models import IdempotentRequest, MemberCode, Partner, PartnerKind, PartnerMember
from tests.api.conftest import PartnerClient, make_partner
from tests.concurrency import race
from tests.conftest import login
from tests.factories import MemberFactory

URL = "/api/v1/members/"


def codes_url(member: Member) -> str:
    return f"{URL}{member.member_number}/codes/"


@pytest.mark.django_db
def test_a_code_is_18_digits_for_two_minutes_and_never_stored(partner_a):
    member = MemberFactory()
    before = timezone.now()
    response = partner_a.post(codes_url(member), {})
    assert response.status_code == 201, response.json()
    code = response.json()["code"]
    assert len(code) == 18 and code.isdigit() and code[0] != "0"
    expires_at = datetime.datetime.fromisoformat(response.json()["expires_at"])
    assert (
        before + datetime.timedelta(seconds=120)
        <= expires_at
        <= timezone.now() + datetime.timedelta(seconds=120)
    )
    assert response["Cache-Control"] == "no-store"
    # neither the code's row nor a stored response holds the code: a leaked row cannot be replayed
    row = MemberCode.objects.get()
    assert (row.member, row.issued_by) == (member, partner_a.partner)
    assert code not in json.dumps(list(MemberCode.objects.values()), default=str)
    assert not [r for r in IdempotentRequest.objects.all() if code.encode() in bytes(r.body)]
    assert partner_a.post(codes_url(member), {}).json()["code"] != code  # each request a new one


@pytest.mark.django_db
def test_code_and_visit_lifetimes_are_settings(partner_a, partner_b, settings):
    settings.MEMBER_CODE_SECONDS = 30
    settings.MEMBER_VISIT_MINUTES = 5
    member = MemberFactory()
    issued = partner_a.post(codes_url(member), {}).json()
    until = datetime.datetime.fromisoformat(issued["expires_at"]) - timezone.now()
    assert datetime.timedelta(seconds=28) < until <= datetime.timedelta(seconds=30)
    linked = partner_b.post(URL + "link/", {"member_code": issued["code"]}).json()
    visit = datetime.datetime.fromisoformat(linked["visit_until"]) - timezone.now()
    assert datetime.timedelta(minutes=4) < visit <= datetime.timedelta(minutes=5)


@pytest.mark.django_db
def test_a_retry_of_the_issuing_request_gets_the_same_code(partner_a):
    member, other = MemberFactory(), MemberFactory()
    key = str(uuid.uuid4())
    first = partner_a.post(codes_url(member), {}, idempotency_key=key)
    retry = partner_a.post(codes_url(member), {}, idempotency_key=key)
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert (first.get("Idempotent-Replayed"), retry["Idempotent-Replayed"]) == (None, "true")
    assert MemberCode.objects.count() == 1
    clash = partner_a.post(codes_url(other), {}, idempotency_key=key)
    assert (clash.status_code, clash.json()["code"]) == (409, "idempotency_conflict")
    missing = partner_a.post(codes_url(member), {}, idempotency_key=None)
    assert (missing.status_code, missing.json()["code"]) == (400, "idempotency_key_missing")
    assert MemberCode.objects.count() == 1


@pytest.mark.django_db
def test_no_code_for_a_closed_member_or_an_unknown_number(partner_a):
    closed = MemberFactory()
    Member.objects.filter(pk=closed.pk).update(status=Member.Status.CLOSED)
    refused = partner_a.post(codes_url(closed), {})
    assert (refused.status_code, refused.json()["code"]) == (422, "member_closed")
    assert partner_a.post(f"{URL}800000000000/codes/", {}).status_code == 404
    assert not MemberCode.objects.exists()


@pytest.mark.django_db
def test_redeeming_links_once_and_a_retry_replays_the_answer(partner_a, partner_b):
    member = MemberFactory()
    code = partner_a.post(codes_url(member), {}).json()["code"]
    key = str(uuid.uuid4())
    linked = partner_b.post(URL + "link/", {"member_code": code}, idempotency_key=key)
    assert linked.status_code == 200, linked.json()
    # the till's retry after a lost answer gets the member, not "code already used"
    retry = partner_b.post(URL + "link/", {"member_code": code}, idempotency_key=key)
    assert (retry.status_code, retry.content) == (200, linked.content)
    assert retry["Idempotent-Replayed"] == "true"
    link = PartnerMember.objects.get(partner=partner_b.partner)
    assert link.member == member and link.visit_until > timezone.now()
    row = MemberCode.objects.get()
    assert row.redeemed_by == partner_b.partner and row.redeemed_at is not None
    # a new request with the same code: used
    again = partner_b.post(URL + "link/", {"member_code": code})
    assert (again.status_code, again.json()["code"]) == (422, "member_code_invalid")


@pytest.mark.django_db
def test_a_malformed_code_is_invalid_input(partner_b):
    for typed in (
        "12345",
        "1234567890123456789",
        "12345678901234567x",
        "１２３４５６７８９０１２３４５６７８",
    ):
        response = partner_b.post(URL + "link/", {"member_code": typed})
        assert response.status_code == 400, typed
        assert set(response.json()["fields"]) == {"member_code"}
    assert member_code_redeem(partner=partner_b.partner, code="１２３４５６７８９０１２３４５６７８") is None


@pytest.mark.django_db
def test_old_codes_are_purged(partner_a):
    member = MemberFactory()
    partner_a.post(codes_url(member), {})
    assert member_codes_purge(timezone.now() + datetime.timedelta(hours=23)) == 0
    assert member_codes_purge(timezone.now() + datetime.timedelta(days=2)) == 1


@pytest.mark.django_db
def test_the_operator_chooses_the_kind_in_the_admin_and_it_is_in_the_history(client, administrator):
    partner, _key = make_partner("mall", "M001")
    assert partner.kind == PartnerKind.THIRD_PARTY  # the default for a new partner
    login(client, administrator)
    page = client.get(reverse("admin:partners_partner_change", args=[partner.pk])).content.decode()
    assert 'type="radio" name="kind" value="first_party"' in page
    response = client.post(
        reverse("admin:partners_partner_change", args=[partner.pk]),
        {
            "name": partner.name,
            "is_active": "on",
            "rate_per_minute": "600",
            "kind": "first_party",
            "grants": partner.grants,
            "channels": partner.channels,
            "stores": [s.pk for s in partner.stores.all()],
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    partner.refresh_from_db()
    assert partner.is_first_party
    latest, previous = partner.history.order_by("-history_id")[:2]
    assert (previous.kind, latest.kind, latest.history_user) == ("third_party", "first_party", administrator)
    added = client.post(
        reverse("admin:partners_partner_add"), {"code": "shop", "name": "Shop", "rate_per_minute": "60"}
    )
    assert added.status_code == 302
    assert Partner.objects.get(code="shop").kind == PartnerKind.THIRD_PARTY


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="races need PostgreSQL")
def test_one_code_presented_by_two_tills_at_once_links_once():
    """Two third-party partners (and a retry with another key) present one code at the same
    moment: exactly one gets the member; the code is used once."""
    brand, brand_key = make_partner("app", "P001", kind=PartnerKind.FIRST_PARTY)
    tills = [make_partner(f"till-{i}", f"T00{i}") for i in range(4)]
    member = MemberFactory()
    code = PartnerClient(brand_key, brand).post(codes_url(member), {}).json()["code"]

    def present(i: int):
        partner, key = tills[i]
        response = PartnerClient(key, partner).post(URL + "link/", {"member_code": code})
        return response.status_code, response.json()["code"] if response.status_code != 200 else partner.pk

    results = race(len(tills), present)
    assert not [r for r in results if isinstance(r, Exception)], results
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 422, 422, 422], results
    winner = next(who for status, who in results if status == 200)
    assert list(PartnerMember.objects.values_list("partner_id", "member_id")) == [(winner, member.pk)]
    assert MemberCode.objects.get().redeemed_by_id == winner
