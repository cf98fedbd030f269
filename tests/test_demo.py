"""`make run` seeds demo data and prints one login per role; each printed login works."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from members.management.commands.seed_demo import DEMO_PASSWORD, DEMO_USERS
from members.models import Identity, Member, Store
from members.phones import normalize_mobile

pytestmark = pytest.mark.django_db


def seed(*args: str) -> str:
    out = io.StringIO()
    with override_settings(DEBUG=True):
        call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def test_every_printed_login_opens_the_admin(client):
    output = seed("--members", "40")
    for username, _role, _can in DEMO_USERS:
        assert username in output and DEMO_PASSWORD in output
        client.logout()
        response = client.post(
            "/admin/login/?next=/admin/", {"username": username, "password": DEMO_PASSWORD}
        )
        assert response.status_code == 302 and response["Location"] == "/admin/", username
        assert client.get("/admin/").status_code == 200
        assert client.get("/admin/members/member/").status_code == 200, username


def test_demo_members_are_consistent_and_if_empty_reuses_them():
    seed("--members", "200")
    assert Store.objects.count() >= 12 and Member.objects.count() == 200
    for member in Member.objects.all():
        assert normalize_mobile(member.mobile.as_e164) == member.mobile.as_e164
        primary = Identity.objects.get(member=member, is_primary_phone=True)
        assert primary.value == member.mobile.as_e164
    output = seed("--if-empty")
    assert Member.objects.count() == 200 and "operator" in output


def test_refuses_to_create_known_passwords_in_production():
    with override_settings(DEBUG=False), pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo", "--members", "1", stdout=io.StringIO())
