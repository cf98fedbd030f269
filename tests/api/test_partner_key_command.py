"""`manage.py partner_key`: create prints a working key once, revoke stops it, list never shows it."""

from __future__ import annotations

import datetime
import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from members.partners.models import Grant, PartnerKey
from tests.api.conftest import make_partner

pytestmark = pytest.mark.django_db

KEY_PATTERN = re.compile(r"^[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}$", re.MULTILINE)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("partner_key", *args, stdout=out)
    return out.getvalue()


def api_status(key: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client.get("/api/v1/members/").status_code


@pytest.fixture
def partner(db):
    partner, _key = make_partner("pos-a", "A001", grants=[Grant.MEMBERS_READ])
    return partner


def test_create_prints_a_key_that_works(partner):
    out = run("create", "pos-a", "--name", "tills")
    keys = KEY_PATTERN.findall(out)
    assert len(keys) == 1
    assert "Store it now: it will not be shown again." in out
    assert api_status(keys[0]) == 200
    stored = PartnerKey.objects.get(partner=partner, name="tills")
    assert keys[0].startswith(stored.prefix + ".") and stored.expiry_date is None


def test_revoke_stops_the_key(partner):
    key = KEY_PATTERN.findall(run("create", "pos-a"))[0]
    prefix = key.partition(".")[0]
    assert f"Revoked key {prefix}" in run("revoke", prefix)
    assert api_status(key) == 401
    assert "already revoked" in run("revoke", prefix)


def test_list_shows_keys_but_never_the_key(partner):
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    key = KEY_PATTERN.findall(run("create", "pos-a", "--name", "web", "--expires", tomorrow.isoformat()))[0]
    run("revoke", key.partition(".")[0])
    out = run("list", "pos-a")
    lines = out.splitlines()
    assert lines[0].split() == ["PREFIX", "NAME", "CREATED", "EXPIRES", "REVOKED"]
    assert len(lines) == 3  # the fixture's key and this one
    web = next(line for line in lines if line.startswith(key.partition(".")[0]))
    assert f"{tomorrow:%Y-%m-%d} 00:00" in web and web.endswith("yes")
    assert key not in out and not KEY_PATTERN.search(out)
    for stored in PartnerKey.objects.all():
        assert stored.hashed_key not in out


def test_expiry_in_the_past_or_malformed_is_refused(partner):
    with pytest.raises(CommandError, match="not in the future"):
        run("create", "pos-a", "--expires", "2020-01-01")
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        run("create", "pos-a", "--expires", "31/12/2030")
    assert PartnerKey.objects.count() == 1


def test_unknown_partner_or_prefix(partner):
    with pytest.raises(CommandError, match="Unknown partner 'nope'; known partners: pos-a"):
        run("create", "nope")
    with pytest.raises(CommandError, match="Unknown partner 'nope'"):
        run("list", "nope")
    with pytest.raises(CommandError, match="No API key has the prefix 'zzzzzzzz'"):
        run("revoke", "zzzzzzzz")
