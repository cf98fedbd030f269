"""Members through the API: enrol-or-find, lookup, masking, updates, no mass assignment.

partner_a is first-party (the brand's POS: enrol-or-find as ever), partner_b third-party."""

from __future__ import annotations

import pytest

from members.models import Member
from members.partners.models import Grant, PartnerMember
from tests.api.conftest import PartnerClient, make_partner
from tests.benefits import conftest as benefits_fixtures

pytestmark = pytest.mark.django_db

voucher = benefits_fixtures.voucher
twenty_off = benefits_fixtures.twenty_off

URL = "/api/v1/members/"


def enrol(client, **body):
    return client.post(URL, {"mobile": "13812345678", "name": "张伟", **body})


def test_enrol_then_find_by_identity(partner_a):
    first = enrol(partner_a, identities=[{"kind": "card", "value": "c-100"}], consents={"sms": True})
    assert first.status_code == 201, first.json()
    number = first.json()["member_number"]
    assert first.json()["mobile"] == "+8613812345678"
    assert first.json()["consents"] == {"sms": True, "email": False, "wechat": False}
    again = partner_a.post(URL, {"identities": [{"kind": "card", "value": "C-100"}], "name": "Other"})
    assert again.status_code == 200
    assert again.json()["member_number"] == number
    assert again.json()["name"] == "张伟"  # upsert finds; it does not overwrite the profile
    assert Member.objects.count() == 1


def test_lookup_by_phone_card_and_number(partner_a):
    number = enrol(partner_a, identities=[{"kind": "card", "value": "c-100"}]).json()["member_number"]
    for params in ({"phone": "138 1234 5678"}, {"kind": "card", "value": "c-100"}, {"member_number": number}):
        response = partner_a.get(URL + "lookup/", params)
        assert response.status_code == 200, params
        assert response.json()["member_number"] == number
    missing = partner_a.get(URL + "lookup/", {"phone": "13900000000"})
    assert missing.status_code == 404
    assert missing.json() == {"code": "not_found", "message": "Not found.", "fields": {}}


def test_other_partner_sees_nothing_until_the_customer_shows_up(partner_a, partner_b):
    number = enrol(partner_a).json()["member_number"]
    assert partner_b.get(f"{URL}{number}/").status_code == 404
    assert partner_b.get(URL + "lookup/", {"phone": "13812345678"}).status_code == 404
    assert partner_b.get(URL).json()["results"] == []
    response = partner_b.patch(f"{URL}{number}/", {"name": "hijack"})
    assert response.status_code == 404
    assert Member.objects.get().name == "张伟"
    # the customer gives their phone at B's counter: that proves nothing, B may not enrol-or-find them
    refused = enrol(partner_b)
    assert (refused.status_code, refused.json()["code"]) == (403, "member_code_required")
    assert partner_b.get(f"{URL}{number}/").status_code == 404
    # the customer shows the code of the brand's app: B links them and may see them from then on
    code = partner_a.post(f"{URL}{number}/codes/", {}).json()["code"]
    assert partner_b.post(URL + "link/", {"member_code": code}).status_code == 200
    assert partner_b.get(f"{URL}{number}/").status_code == 200
    assert enrol(partner_b).status_code == 200  # enrol-or-find of a member B sees
    assert PartnerMember.objects.count() == 2


def test_enrolling_someone_elses_details_reveals_nothing(partner_a, partner_b, voucher):
    """A third-party partner enrolling an existing member's phone gets exactly the answer of a
    spend without the customer's code: 403 member_code_required, no number, name or masked phone.
    Whether the phone is A's member, or a member B itself serves but may not spend for now, the
    body is the same."""
    from tests.benefits.conftest import give_points

    number = enrol(partner_a).json()["member_number"]
    taken = enrol(partner_b)
    assert taken.status_code == 403
    mine = partner_b.post(URL, {"mobile": "13900000001"}).json()["member_number"]
    give_points(Member.objects.get(member_number=mine), 3000)
    no_visit = partner_b.post(f"/api/v1/rewards/{voucher.pk}/redeem/", {"member_number": mine})
    assert (no_visit.status_code, no_visit.content) == (taken.status_code, taken.content)
    assert taken.json()["fields"] == {}
    for secret in (number, "张伟", "5678", "138"):
        assert secret not in taken.content.decode()
    # the same with the card, with identities of two members, and in Chinese
    partner_a.post(URL, {"mobile": "13700000000", "identities": [{"kind": "card", "value": "c-9"}]})
    two = partner_b.post(URL, {"mobile": "13812345678", "identities": [{"kind": "card", "value": "c-9"}]})
    assert (two.status_code, two.content) == (taken.status_code, taken.content)
    zh = partner_b.post(URL, {"mobile": "13812345678"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert zh.json()["code"] == "member_code_required"
    assert Member.objects.count() == 3


def test_contact_details_masked_without_the_grant(db):
    partner, key = make_partner("mp", "M001", grants=[Grant.MEMBERS_READ, Grant.MEMBERS_WRITE])
    client = PartnerClient(key, partner)
    body = enrol(client, email="zhang.wei@example.com", birthday="1990-05-17").json()
    assert body["mobile"] == "138****5678"
    assert body["email"] == "z***@example.com"
    assert body["birthday"] == "****-05-17"
    assert [i["value"] for i in body["identities"]] == ["138****5678"]


def test_update_profile_and_consents_but_not_server_fields(partner_a):
    number = enrol(partner_a).json()["member_number"]
    response = partner_a.patch(f"{URL}{number}/", {"city": "杭州", "consents": {"wechat": True}})
    assert response.status_code == 200, response.json()
    assert response.json()["city"] == "杭州"
    assert response.json()["consents"]["wechat"] is True
    refused = partner_a.patch(f"{URL}{number}/", {"status": "closed", "member_number": "1", "name": "X"})
    assert refused.status_code == 400
    assert set(refused.json()["fields"]) == {"status", "member_number"}
    member = Member.objects.get()
    assert (member.status, member.name) == ("active", "张伟")


def test_invalid_input_names_the_fields(partner_a):
    response = partner_a.post(URL, {"mobile": "12345", "gender": "x", "identities": [{"kind": "nope"}]})
    assert response.status_code == 400
    assert {"gender", "identities[0].kind", "identities[0].value"} <= set(response.json()["fields"])
    bad_phone = partner_a.post(URL, {"mobile": "12345"})
    assert bad_phone.status_code == 400
    assert "mobile" in bad_phone.json()["fields"]
    assert Member.objects.count() == 0


def test_keys_and_grants(partner_a, db):
    partner_a.credentials(HTTP_AUTHORIZATION="Api-Key nope.nope")
    assert partner_a.get(URL).status_code == 401
    partner_a.credentials()
    assert partner_a.get(URL).json()["code"] == "not_authenticated"
    partner, key = make_partner("ro", "R001", grants=[Grant.MEMBERS_READ])
    client = PartnerClient(key, partner)
    assert client.get(URL).status_code == 200
    refused = enrol(client)
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"


def test_each_key_is_throttled_at_its_partners_rate(db):
    from django.core.cache import cache

    cache.clear()
    partner, key = make_partner("slow", "S001", grants=[Grant.MEMBERS_READ])
    partner.rate_per_minute = 3
    partner.save()
    client = PartnerClient(key, partner)
    assert [client.get(URL).status_code for _ in range(4)] == [200, 200, 200, 429]
    refused = client.get(URL)
    assert refused.json()["code"] == "throttled"
    assert int(refused["Retry-After"]) > 0
    other, other_key = make_partner("fast", "S002", grants=[Grant.MEMBERS_READ])
    assert PartnerClient(other_key, other).get(URL).status_code == 200


def test_the_demo_key_printed_by_seed_demo_works(db, client):
    from members.management.commands.seed_demo import DEMO_API_KEY, ensure_demo_partner
    from tests.factories import MemberFactory, StoreFactory

    StoreFactory(code="S0000")
    member = MemberFactory()
    ensure_demo_partner(Member.objects.all())
    ensure_demo_partner(Member.objects.all())  # twice: no second partner, key or link
    response = client.get(f"{URL}{member.member_number}/", HTTP_AUTHORIZATION=f"Api-Key {DEMO_API_KEY}")
    assert response.status_code == 200
    assert PartnerMember.objects.count() == 1


def test_registration_channel_and_store_are_the_partners(partner_a):
    at_store = enrol(partner_a, registration_store="A001").json()
    assert (at_store["registration_channel"], at_store["registration_store"]) == ("store", "A001")
    online = partner_a.post(URL, {"mobile": "13900000001", "channel": "wechat_mp"}).json()
    assert (online["registration_channel"], online["registration_store"]) == ("wechat_mp", None)
    refused = partner_a.post(URL, {"mobile": "13900000002", "channel": "tmall", "registration_store": "B001"})
    assert refused.status_code == 400
    assert set(refused.json()["fields"]) == {"channel"}
    other_store = partner_a.post(URL, {"mobile": "13900000002", "registration_store": "B001"})
    assert set(other_store.json()["fields"]) == {"registration_store"}
    assert Member.objects.count() == 2


def test_a_deactivated_partner_or_expired_key_is_refused(db):
    import datetime

    from django.utils import timezone

    from members.partners.models import PartnerKey

    partner, key = make_partner("gone", "G001", grants=[Grant.MEMBERS_READ])
    client = PartnerClient(key, partner)
    assert client.get(URL).status_code == 200
    partner.is_active = False
    partner.save()
    assert client.get(URL).status_code == 401
    partner.is_active = True
    partner.save()
    PartnerKey.objects.update(expiry_date=timezone.now() - datetime.timedelta(minutes=1))
    refused = client.get(URL)
    assert (refused.status_code, refused.json()["code"]) == (401, "authentication_failed")


def test_unknown_api_urls_answer_in_the_error_shape(client, settings):
    settings.DEBUG = False  # Django's debug page otherwise
    response = client.get("/api/v1/nothing/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert client.get("/admin/nothing/").get("Content-Type", "").startswith("text/html")


def test_lookup_refuses_what_the_database_cannot_hold(partner_a):
    for params in ({"member_number": "8\x001"}, {"kind": "openid", "value": "x\x00"}, {"phone": "1" * 40}):
        response = partner_a.get(URL + "lookup/", params)
        assert response.status_code == 400, params
        assert response.json()["code"] == "invalid"
    assert partner_a.get(URL + "lookup/", {"kind": "nope", "value": "x"}).json()["fields"].keys() == {"kind"}


def test_a_mistyped_list_filter_is_400_naming_it_not_the_whole_list(partner_a):
    response = partner_a.get(URL, {"stauts": "active", "page_size": "10"})
    assert response.status_code == 400
    assert response.json()["fields"] == {"stauts": ["Not a parameter of this list."]}
    assert partner_a.get(URL, {"status": "active", "page_size": "10"}).status_code == 200
