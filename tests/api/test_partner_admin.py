"""The partners admin: checkbox grants, the service user, keys shown once, revoking, who may."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework_api_key.models import APIKey

from members.models import Channel
from members.partners.models import Grant, Partner, PartnerKey
from tests.api.conftest import make_partner
from tests.conftest import login
from tests.factories import StoreFactory

pytestmark = pytest.mark.django_db

PARTNERS = reverse("admin:partners_partner_changelist")
KEYS = reverse("admin:partners_partnerkey_changelist")
MEMBERS_API = "/api/v1/members/"
KEY_PATTERN = re.compile(r"\b[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}\b")


def api_status(key: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client.get(MEMBERS_API).status_code


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def create_key_in_admin(client, partner: Partner, name: str = "POS", **extra) -> tuple[str, object]:
    response = client.post(
        reverse("admin:partners_partnerkey_add"),
        {"partner": partner.pk, "name": name, "expiry_date_0": "", "expiry_date_1": "", **extra},
        follow=True,
    )
    assert response.status_code == 200
    shown = [k for m in messages_of(response) for k in KEY_PATTERN.findall(m)]
    assert len(shown) == 1, messages_of(response)
    assert shown[0] in response.content.decode()  # in the warning on the page it lands on
    return shown[0], response


def test_add_partner_with_checkboxes_gives_it_a_service_user(client, administrator):
    stores = [StoreFactory(code="A001"), StoreFactory(code="A002"), StoreFactory(code="Z999")]
    login(client, administrator)
    page = client.get(reverse("admin:partners_partner_add")).content.decode()
    assert 'type="checkbox" name="grants" value="members.read"' in page
    assert 'type="checkbox" name="channels" value="wechat_mp"' in page
    response = client.post(
        reverse("admin:partners_partner_add"),
        {
            "code": "pos-sh",
            "name": "上海 POS",
            "is_active": "on",
            "rate_per_minute": "300",
            "grants": [Grant.PURCHASES_WRITE, Grant.MEMBERS_READ],
            "channels": [Channel.WECHAT_MINIPROGRAM, Channel.STORE],
            "stores": [stores[0].pk, stores[1].pk],
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    partner = Partner.objects.get(code="pos-sh")
    assert partner.grants == ["members.read", "purchases.write"]
    assert partner.channels == ["store", "wechat_mp"]
    assert partner.rate_per_minute == 300
    assert set(partner.stores.values_list("code", flat=True)) == {"A001", "A002"}
    assert partner.user.username == "api-pos-sh"
    assert not partner.user.is_active and not partner.user.has_usable_password()
    assert {h.history_user for h in partner.history.all()} == {administrator}
    # the change page shows the history and the service user; the code is fixed from now on
    change = client.get(reverse("admin:partners_partner_change", args=[partner.pk])).content.decode()
    assert "api-pos-sh" in change and 'name="code"' not in change
    history = client.get(reverse("admin:partners_partner_history", args=[partner.pk]))
    assert history.status_code == 200


def test_unknown_grant_is_refused(client, administrator):
    login(client, administrator)
    response = client.post(
        reverse("admin:partners_partner_add"),
        {"code": "x", "name": "X", "rate_per_minute": "60", "grants": ["everything"]},
    )
    assert response.status_code == 200
    assert "grants" in response.context["adminform"].form.errors
    assert not Partner.objects.exists()


def test_key_created_in_admin_is_shown_once_then_works_until_revoked(client, administrator):
    partner, _key = make_partner("pos-a", "A001", grants=[Grant.MEMBERS_READ])
    login(client, administrator)
    key, response = create_key_in_admin(client, partner)
    assert api_status(key) == 200
    stored = PartnerKey.objects.get(partner=partner, name="POS")
    assert key.startswith(stored.prefix + ".")
    # never again: not on the next pages, not in the key's own page
    assert key not in client.get(KEYS).content.decode()
    assert (
        key
        not in client.get(reverse("admin:partners_partnerkey_change", args=[stored.prefix])).content.decode()
    )
    assert not KEY_PATTERN.search("".join(messages_of(client.get(KEYS))))

    response = client.post(
        KEYS, {"action": "revoke_keys", "_selected_action": [stored.prefix], "index": 0}, follow=True
    )
    assert response.status_code == 200
    assert PartnerKey.objects.get(pk=stored.pk).revoked
    assert api_status(key) == 401
    # a revoked key's page is read-only: nothing to un-revoke
    page = client.get(reverse("admin:partners_partnerkey_change", args=[stored.prefix])).content.decode()
    assert 'name="revoked"' not in page


def test_revoke_with_the_checkbox_of_the_key_page(client, administrator):
    partner, _key = make_partner("pos-a", "A001", grants=[Grant.MEMBERS_READ])
    login(client, administrator)
    key, _response = create_key_in_admin(client, partner, name="till 3")
    stored = PartnerKey.objects.get(name="till 3")
    url = reverse("admin:partners_partnerkey_change", args=[stored.prefix])
    response = client.post(
        url, {"name": "till 3 (old)", "expiry_date_0": "", "expiry_date_1": "", "revoked": "on"}
    )
    assert response.status_code == 302
    stored.refresh_from_db()
    assert (stored.name, stored.revoked) == ("till 3 (old)", True)
    assert api_status(key) == 401
    # posting the form again without the checkbox changes nothing: the page is read-only now
    assert client.post(url, {"name": "x", "revoked": ""}).status_code == 403
    assert PartnerKey.objects.get(pk=stored.pk).revoked


def test_hashed_key_never_reaches_a_page(client, administrator):
    partner, _key = make_partner("pos-a", "A001")
    login(client, administrator)
    _text, added = create_key_in_admin(client, partner, _continue="1")  # lands on the key's page
    stored = PartnerKey.objects.get(name="POS")
    assert added.redirect_chain == [(reverse("admin:partners_partnerkey_change", args=[stored.prefix]), 302)]
    pages = [
        added.content.decode(),
        client.get(KEYS).content.decode(),
        client.get(reverse("admin:partners_partnerkey_change", args=[stored.prefix])).content.decode(),
        client.get(reverse("admin:partners_partnerkey_history", args=[stored.prefix])).content.decode(),
        client.get(reverse("admin:partners_partner_change", args=[partner.pk])).content.decode(),
        client.get(reverse("admin:index")).content.decode(),  # recent actions
    ]
    for key in PartnerKey.objects.all():
        digest = key.hashed_key.rpartition("$")[2]  # also as a link quotes it: sha512_24_24<digest>
        assert all(key.hashed_key not in page and digest not in page for page in pages)
    assert stored.prefix in pages[4]  # the partner's page lists its keys by prefix


def test_library_key_admin_is_not_registered():
    assert not admin.site.is_registered(APIKey)
    assert admin.site.is_registered(PartnerKey)


@pytest.mark.parametrize("url", [PARTNERS, KEYS, reverse("admin:partners_partner_add")])
def test_operator_cannot_open_the_partner_admin(client, operator, url):
    login(client, operator)
    assert client.get(url).status_code == 403


def test_partner_list_query_count_does_not_grow(client, administrator, django_assert_num_queries):
    make_partner("pos-a", "A001")
    login(client, administrator)
    client.get(PARTNERS)
    # session, user, 2x permissions, count, full count, page (its active keys counted in it)
    with django_assert_num_queries(8):
        response = client.get(PARTNERS)
    assert len(response.context["cl"].result_list) == 1
    for n in range(5):
        make_partner(f"shop-{n}", f"B00{n}", grants=[Grant.MEMBERS_READ])
    with django_assert_num_queries(8):
        response = client.get(PARTNERS)
    rows = {p.code: p.active_key_count for p in response.context["cl"].result_list}
    assert rows == {"pos-a": 1, **{f"shop-{n}": 1 for n in range(5)}}
