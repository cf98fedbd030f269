"""The duplicate search: each signal finds its pair with the evidence, and nothing else pairs up."""

from __future__ import annotations

import datetime

import pytest

from members.models import Identity
from members.oneid.candidates import duplicates_find
from members.oneid.models import DuplicateCandidate
from members.oneid.services import candidate_dismiss
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def pair_of(a, b) -> DuplicateCandidate:
    first, second = sorted([a, b], key=lambda m: m.pk)
    return DuplicateCandidate.objects.get(first=first, second=second)


def codes(candidate: DuplicateCandidate) -> list[tuple[str, str]]:
    return [(r["code"], r["value"]) for r in candidate.reasons]


def test_each_signal_finds_its_pair_with_the_evidence():
    # one card number written two ways: the POS pads with zeros, the mini-program does not
    card_a = MemberFactory(card="0012-3456")
    card_b = MemberFactory(card="123456")
    # a Tmall account that is the mobile of another member
    phone_owner = MemberFactory(mobile="13912345678")
    shopper = MemberFactory()
    Identity.objects.create(
        member=shopper, kind=Identity.Kind.PLATFORM, namespace="tmall", value="13912345678"
    )
    # one UnionID under two apps' namespaces
    wx_a = MemberFactory()
    wx_b = MemberFactory()
    Identity.objects.create(member=wx_a, kind=Identity.Kind.WECHAT_UNIONID, namespace="", value="oU-77")
    Identity.objects.create(member=wx_b, kind=Identity.Kind.WECHAT_UNIONID, namespace="app2", value="oU-77")
    # name, birthday and city
    born = datetime.date(1990, 5, 20)
    li_a = MemberFactory(name="李雷", birthday=born, city="上海")
    li_b = MemberFactory(name="李雷", birthday=born, city="上海")
    MemberFactory(name="李雷", birthday=born, city="北京")  # another city: someone else

    assert duplicates_find() == 4

    assert codes(pair_of(card_a, card_b)) == [("card_form", "123456")]
    assert codes(pair_of(phone_owner, shopper)) == [("phone_form", "+8613912345678")]
    assert codes(pair_of(wx_a, wx_b)) == [("unionid", "oU-77")]
    assert codes(pair_of(li_a, li_b)) == [("name_birthday_city", "李雷 1990-05-20 上海")]
    assert DuplicateCandidate.objects.count() == 4


def test_a_common_name_in_a_big_group_is_not_evidence():
    born = datetime.date(1985, 1, 1)
    for _ in range(6):
        MemberFactory(name="王伟", birthday=born, city="北京")
    assert duplicates_find() == 0


def test_a_second_run_adds_nothing_and_a_dismissed_pair_stays_dismissed(operator):
    a = MemberFactory(card="A-1")
    b = MemberFactory(card="A1")
    assert duplicates_find() == 1
    candidate_dismiss(candidate=pair_of(a, b), actor=operator)
    assert duplicates_find() == 0
    assert pair_of(a, b).status == DuplicateCandidate.Status.DISMISSED


def test_the_search_for_chosen_members_finds_only_their_pairs():
    a, b = MemberFactory(card="X-1"), MemberFactory(card="X1")
    MemberFactory(card="Y-1"), MemberFactory(card="Y1")
    assert duplicates_find(member_ids=[a.pk]) == 1
    assert pair_of(a, b).status == DuplicateCandidate.Status.OPEN
    assert DuplicateCandidate.objects.count() == 1
