"""Two tills enrolling the same person at the same moment: one member, one clear refusal.

Runs on PostgreSQL only: SQLite serialises writers, so it cannot show the race.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from members.models import Identity, Member
from members.services import IdentityKey, identity_attach, member_enrol
from tests.concurrency import race
from tests.factories import MemberFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and races need PostgreSQL"),
]


def test_concurrent_enrolments_with_one_phone_make_one_member():
    results = race(8, lambda i: member_enrol(name=f"会员{i}", mobile="13912345678"))
    members = [r for r in results if isinstance(r, Member)]
    refusals = [r for r in results if isinstance(r, ValidationError)]
    assert len(members) == 1 and len(refusals) == 7, results
    assert all("mobile" in r.message_dict for r in refusals)
    assert Member.objects.count() == 1
    assert Identity.objects.filter(kind="phone").count() == 1


def test_concurrent_card_attachments_to_two_members():
    a, b = MemberFactory(), MemberFactory()
    results = race(2, lambda i: identity_attach(member=(a, b)[i], kind=Identity.Kind.CARD, value="VIP-RACE"))
    assert sum(isinstance(r, Identity) for r in results) == 1
    assert sum(isinstance(r, ValidationError) for r in results) == 1, results
    assert Identity.objects.filter(value="VIP-RACE").count() == 1


def test_concurrent_enrolments_with_one_card_and_different_phones():
    card = IdentityKey(Identity.Kind.CARD, "VIP-SAME")
    results = race(4, lambda i: member_enrol(mobile=f"1390000000{i}", identities=[card]))
    assert sum(isinstance(r, Member) for r in results) == 1
    assert all(isinstance(r, (Member, ValidationError)) for r in results), results
    assert Member.objects.count() == 1
