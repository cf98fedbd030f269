"""Referral codes and links: who may refer whom."""

from __future__ import annotations

import pytest

from members.models import Identity, Member
from members.referrals.errors import ReferralCodeUnknown, ReferralTaken, ReferrerClosed, SelfReferral
from members.referrals.models import ALPHABET, MemberDevice, MemberIp, Referral, ReferralCode
from members.referrals.selectors import referees_of, referral_of
from members.referrals.services import (
    member_device_record,
    member_ip_record,
    referral_check,
    referral_code_get,
    referral_link,
)
from members.services import IdentityKey, identity_attach, identity_detach, member_update
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_a_code_is_made_once_from_the_unambiguous_alphabet():
    member = MemberFactory()
    code = referral_code_get(member)
    assert len(code) == 8 and set(code) <= set(ALPHABET)
    assert not set(code) & set("0O1I")
    assert referral_code_get(member) == code
    assert ReferralCode.objects.count() == 1


def test_a_collision_is_drawn_again(monkeypatch):
    first, second = MemberFactory(), MemberFactory()
    draws = iter(["AAAAAAAA", "AAAAAAAA", "BBBBBBBB"])
    monkeypatch.setattr("members.referrals.services.new_referral_code", lambda: next(draws))
    assert referral_code_get(first) == "AAAAAAAA"
    assert referral_code_get(second) == "BBBBBBBB"


def test_a_new_member_is_linked_once_and_listed_with_the_referrer():
    referrer, referee = MemberFactory(), MemberFactory()
    code = referral_code_get(referrer)
    referral = referral_link(referee, code.lower(), device_id="dev-2", source="test")
    assert (referral.referrer, referral.referee, referral.code) == (referrer, referee, code)
    assert list(referees_of(referrer)) == [referral]
    assert referral_of(referee) == referral
    assert MemberDevice.objects.filter(member=referee, device_id="dev-2").exists()
    other = MemberFactory()
    with pytest.raises(ReferralTaken):
        referral_link(referee, referral_code_get(other))
    assert Referral.objects.count() == 1


def test_an_unknown_code_is_refused():
    with pytest.raises(ReferralCodeUnknown) as refused:
        referral_link(MemberFactory(), "ZZZZ2222")
    assert refused.value.details["field"] == "referral_code"
    assert not Referral.objects.exists()


def test_a_closed_or_merged_referrer_refers_nobody():
    closed = MemberFactory()
    code = referral_code_get(closed)
    Member.objects.filter(pk=closed.pk).update(status=Member.Status.CLOSED)
    with pytest.raises(ReferrerClosed):
        referral_link(MemberFactory(), code)
    merged, survivor = MemberFactory(), MemberFactory()
    code = referral_code_get(merged)
    Member.objects.filter(pk=merged.pk).update(merged_into=survivor)
    with pytest.raises(ReferrerClosed):
        referral_link(MemberFactory(), code)


def test_a_member_cannot_use_their_own_code():
    member = MemberFactory()
    with pytest.raises(SelfReferral) as refused:
        referral_link(member, referral_code_get(member))
    assert refused.value.details["via"] == "member"


def test_self_referral_by_phone_the_referrer_had_before():
    referrer = MemberFactory(mobile="13900000001")
    code = referral_code_get(referrer)
    member_update(member=referrer, mobile="13900000002")  # the old phone is free again
    with pytest.raises(SelfReferral) as refused:
        referral_check(code, keys=[IdentityKey(Identity.Kind.PHONE, "13900000001")])
    assert refused.value.details["via"] == "identity"
    newcomer = MemberFactory(mobile="13900000001")
    with pytest.raises(SelfReferral):
        referral_link(newcomer, code)


def test_self_referral_by_an_identity_of_another_kind():
    # the referrer's card number is the newcomer's phone: one person, typed twice
    referrer = MemberFactory(card="13900000003")
    code = referral_code_get(referrer)
    with pytest.raises(SelfReferral):
        referral_check(code, keys=[IdentityKey(Identity.Kind.PHONE, "+86 139 0000 0003")])
    # a UnionID the referrer had, detached, then given to the newcomer
    referrer2 = MemberFactory(unionid="oU-same-person")
    code2 = referral_code_get(referrer2)
    identity_detach(identity=referrer2.identities.get(kind=Identity.Kind.WECHAT_UNIONID))
    newcomer = MemberFactory(unionid="oU-same-person")
    with pytest.raises(SelfReferral):
        referral_link(newcomer, code2)
    assert not Referral.objects.exists()


def test_self_referral_by_device():
    referrer = MemberFactory()
    member_device_record(referrer, "device-A")
    code = referral_code_get(referrer)
    with pytest.raises(SelfReferral) as refused:
        referral_link(MemberFactory(), code, device_id="device-A")
    assert refused.value.details == {"field": "device_id", "via": "device"}
    # another device is fine, and then that device is the referee's: it refers no one back
    referee = MemberFactory()
    referral_link(referee, code, device_id="device-B")
    with pytest.raises(SelfReferral):
        referral_link(MemberFactory(), referral_code_get(referee), device_id="device-B")


def test_an_unrelated_newcomer_is_accepted():
    referrer = MemberFactory(card="C-1", unionid="oU-1")
    identity_attach(member=referrer, kind=Identity.Kind.CARD, value="C-2")
    code = referral_code_get(referrer)
    assert referral_check(code, keys=[IdentityKey(Identity.Kind.CARD, "C-3")], device_id="d") == referrer


def test_a_merge_gives_the_referees_to_the_survivor_and_drops_a_link_between_the_two(operator, approver):
    from members.oneid.services import merge_request

    survivor, absorbed = MemberFactory(), MemberFactory()
    member_device_record(absorbed, "old-phone")
    member_ip_record(absorbed, "203.0.113.9")
    referees = [MemberFactory(), MemberFactory()]
    for referee in referees:
        referral_link(referee, referral_code_get(absorbed))
    referral_link(survivor, referral_code_get(absorbed))  # the same person, twice: now found out
    (merge,) = merge_request(survivor=survivor, absorbed=[absorbed], reason="同一人", actor=operator)
    assert merge.status == "done", merge.status
    assert set(Referral.objects.values_list("referrer_id", "referee_id")) == {
        (survivor.pk, r.pk) for r in referees
    }
    assert MemberDevice.objects.filter(member=survivor, device_id="old-phone").exists()
    assert MemberIp.objects.filter(member=survivor, ip="203.0.113.9").exists()
    with pytest.raises(ReferrerClosed):  # the absorbed member's code refers nobody any more
        referral_link(MemberFactory(), referral_code_get(absorbed))


def test_the_members_data_copy_lists_their_referrals_and_an_erasure_removes_the_devices(operator, approver):
    from members.privacy.exports import personal_data
    from members.privacy.services import erasure_approve, erasure_request

    referrer, member = MemberFactory(), MemberFactory()
    referral_link(member, referral_code_get(referrer), device_id="device-of-member")
    member_ip_record(member, "2001:db8::7")
    rows = personal_data(member)["sections"]["referrals"]
    assert [row["ip"] for row in rows if row["what"] == "ip"] == ["2001:db8::7"]
    assert {"what": "referred_by", "member_number": referrer.member_number}.items() <= rows[0].items()
    assert [row["device_id"] for row in rows if row["what"] == "device"] == ["device-of-member"]
    erasure_approve(request=erasure_request(member=member, reason="本人申请", actor=operator), actor=approver)
    assert not MemberDevice.objects.filter(member=member).exists()
    assert not MemberIp.objects.filter(member=member).exists()
    assert Referral.objects.get().device_id == ""
