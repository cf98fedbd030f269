""" "Who is this?" answers are explicit: found, unknown or ambiguous, never a guess."""

from __future__ import annotations

import pytest

from members.models import Identity
from members.selectors import Outcome, member_lookup, member_resolve
from members.services import IdentityKey, identity_attach
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

CARD, PHONE, UNIONID = Identity.Kind.CARD, Identity.Kind.PHONE, Identity.Kind.WECHAT_UNIONID


def test_resolves_by_any_identity_in_any_spelling():
    member = MemberFactory(mobile="13912345678", card="VIP00000001", unionid="oUnion_1")
    for key in [
        IdentityKey(PHONE, "+86 139 1234 5678"),
        IdentityKey(PHONE, "0086 13912345678"),
        IdentityKey(CARD, "vip00000001"),
        IdentityKey(UNIONID, "oUnion_1"),
    ]:
        result = member_resolve([key])
        assert result.outcome is Outcome.FOUND and result.member == member, key


def test_keys_that_agree_find_the_member():
    member = MemberFactory(mobile="13912345678", card="VIP1")
    result = member_resolve([IdentityKey(CARD, "VIP1"), IdentityKey(PHONE, "13912345678")])
    assert result.member == member and len(result.matches) == 2


def test_unknown_and_malformed_keys_are_unknown():
    MemberFactory(mobile="13912345678")
    assert member_resolve([IdentityKey(PHONE, "13800000000")]).outcome is Outcome.UNKNOWN
    assert member_resolve([IdentityKey(PHONE, "12345")]).outcome is Outcome.UNKNOWN
    assert member_resolve([]).outcome is Outcome.UNKNOWN


def test_keys_of_two_members_are_ambiguous_with_both_candidates():
    a = MemberFactory(mobile="13912345678")
    b = MemberFactory(card="VIP2")
    result = member_resolve([IdentityKey(PHONE, "13912345678"), IdentityKey(CARD, "VIP2")])
    assert result.outcome is Outcome.AMBIGUOUS
    assert result.member is None
    assert set(result.candidates) == {a, b}


def test_counter_lookup_by_phone_card_or_member_number():
    member = MemberFactory(mobile="13912345678", card="VIP00000009")
    assert member_lookup("139 1234 5678").member == member
    assert member_lookup("vip00000009").member == member
    assert member_lookup(member.member_number).member == member
    assert member_lookup("张").outcome is Outcome.UNKNOWN
    assert member_lookup("").outcome is Outcome.UNKNOWN


def test_counter_lookup_of_a_value_two_members_share_is_ambiguous():
    a = MemberFactory()
    b = MemberFactory()
    identity_attach(member=a, kind=Identity.Kind.PARTNER, namespace="pos_vendor", value="12345")
    identity_attach(member=b, kind=Identity.Kind.PLATFORM, namespace="tmall", value="12345")
    result = member_lookup("12345")
    assert result.outcome is Outcome.AMBIGUOUS and set(result.candidates) == {a, b}
