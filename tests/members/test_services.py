"""Enrolment, updates, identities and consents through the services."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from members.models import ConsentRecord, Identity, Member, Tag
from members.services import (
    Enrolment,
    IdentityKey,
    identity_attach,
    identity_detach,
    luhn_check_digit,
    member_enrol,
    member_set_consent,
    member_update,
    members_enrol,
)
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_enrol_normalises_phone_and_indexes_it_as_identity():
    member = member_enrol(name="王芳", mobile="+86 139 1234 5678")
    assert member.mobile.as_e164 == "+8613912345678"
    assert len(member.member_number) == 12
    assert member.member_number[-1] == luhn_check_digit(member.member_number[:-1])
    phone = Identity.objects.get(member=member, kind=Identity.Kind.PHONE)
    assert phone.value == "+8613912345678" and phone.is_primary_phone


def test_same_phone_in_any_spelling_cannot_enrol_twice():
    first = member_enrol(name="张伟", mobile="13912345678")
    with pytest.raises(ValidationError) as exc:
        member_enrol(name="陈静", mobile="+86 139-1234-5678")
    assert "mobile" in exc.value.message_dict
    assert first.member_number in exc.value.message_dict["mobile"][0]
    assert Member.objects.count() == 1


def test_enrol_reports_all_problems_and_writes_nothing():
    MemberFactory(card="VIP001")
    with pytest.raises(ValidationError) as exc:
        member_enrol(
            name="刘洋",
            mobile="1380000000",
            birthday=timezone.localdate() + datetime.timedelta(days=1),
            identities=[IdentityKey(Identity.Kind.CARD, " vip001 ")],
        )
    assert set(exc.value.message_dict) == {"mobile", "birthday", "card"}
    assert Member.objects.count() == 1


def test_landline_is_not_a_mobile():
    with pytest.raises(ValidationError, match="landline"):
        member_enrol(name="座机", mobile="010-12345678")


def test_update_mobile_moves_the_phone_identity():
    member = MemberFactory(mobile="13912345678")
    member_update(member=member, mobile="13800000001", city="杭州")
    member.refresh_from_db()
    assert member.mobile.as_e164 == "+8613800000001" and member.city == "杭州"
    phones = list(Identity.objects.filter(member=member, kind="phone").values_list("value", flat=True))
    assert phones == ["+8613800000001"]
    # the old number is free again for someone else
    assert member_enrol(mobile="13912345678").pk != member.pk


def test_update_to_someone_elses_phone_is_refused():
    MemberFactory(mobile="13912345678")
    other = MemberFactory(mobile="13800000001")
    with pytest.raises(ValidationError):
        member_update(member=other, mobile="139 1234 5678")
    other.refresh_from_db()
    assert other.mobile.as_e164 == "+8613800000001"


def test_identity_attach_is_idempotent_and_exclusive():
    a = MemberFactory()
    b = MemberFactory()
    first = identity_attach(member=a, kind=Identity.Kind.CARD, value="vip123")
    again = identity_attach(member=a, kind=Identity.Kind.CARD, value="VIP123 ")
    assert first.pk == again.pk and first.value == "VIP123"
    with pytest.raises(ValidationError, match=a.member_number):
        identity_attach(member=b, kind=Identity.Kind.CARD, value="VIP123")


def test_openid_is_unique_per_app_only():
    a, b = MemberFactory(), MemberFactory()
    identity_attach(member=a, kind=Identity.Kind.WECHAT_OPENID, namespace="wx_app_1", value="oABC")
    identity_attach(member=b, kind=Identity.Kind.WECHAT_OPENID, namespace="wx_app_2", value="oABC")
    assert Identity.objects.filter(value="oABC").count() == 2


def test_primary_phone_cannot_be_detached():
    member = MemberFactory()
    with pytest.raises(ValidationError):
        identity_detach(identity=member.identities.get(kind="phone"))


def test_consent_trail_records_each_change_once(operator):
    member = MemberFactory()
    assert member_set_consent(member=member, channel="sms", granted=True, actor=operator) is not None
    assert member_set_consent(member=member, channel="sms", granted=True, actor=operator) is None
    member_set_consent(member=member, channel="sms", granted=False, actor=operator, source="api")
    member.refresh_from_db()
    assert member.sms_consent is False
    trail = list(
        ConsentRecord.objects.filter(member=member).order_by("id").values_list("granted", "source", "actor")
    )
    assert trail == [(True, "admin", operator.pk), (False, "api", operator.pk)]


def test_history_records_who_changed_what(operator):
    member = MemberFactory(name="张伟", actor=operator)
    member_update(member=member, city="北京", actor=operator)
    latest = member.history.first()
    assert latest.history_user == operator
    delta = latest.diff_against(latest.prev_record)
    assert [(c.field, c.old, c.new) for c in delta.changes] == [("city", "", "北京")]


def test_enrolments_together_follow_the_one_enrolment_rules(operator):
    """An import's chunk: each enrolment judged as ``member_enrol`` judges it (it is this batch
    of one); an id given by an earlier enrolment of the batch is refused on the later one, and
    a refused enrolment writes nothing while the others go in, with the author in the history."""
    taken = MemberFactory(mobile="13900000009")
    vip = Tag.objects.create(name="VIP 客户")
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    outcomes = members_enrol(
        [
            Enrolment(
                name="甲", mobile="13900000001", identities=[IdentityKey(Identity.Kind.CARD, "vip1")],
                consents={"sms": True, "email": False}, tags=[vip],
            ),
            Enrolment(name="乙", mobile="13900000002", identities=[IdentityKey(Identity.Kind.CARD, "VIP1")]),
            Enrolment(name="丙", mobile="+86 139 0000 0009"),
            Enrolment(name="丁", mobile="13900000004", birthday=tomorrow),
            Enrolment(name="戊", mobile="13900000005", registration_channel="fax"),
        ],
        actor=operator,
        source="import #7",
    )  # fmt: skip
    first = outcomes[0]
    assert isinstance(first, Member) and first.sms_consent and not first.email_consent
    refusals = {i: o.message_dict for i, o in enumerate(outcomes) if isinstance(o, ValidationError)}
    assert refusals == {
        1: {"card": ["VIP1 is given twice."]},
        2: {"mobile": [f"Phone +8613900000009 already belongs to member {taken.member_number}."]},
        3: {"birthday": [f"Birthday {tomorrow} is in the future."]},
        4: {"registration_channel": ["Value 'fax' is not a valid choice."]},
    }
    assert Member.objects.count() == 2
    assert sorted(Identity.objects.filter(member=first).values_list("kind", "value", "is_primary_phone")) == [
        ("card", "VIP1", False),
        ("phone", "+8613900000001", True),
    ]
    assert list(first.tags.all()) == [vip]
    assert list(ConsentRecord.objects.filter(member=first).values_list("channel", "source", "actor")) == [
        ("sms", "import #7", operator.pk)
    ]
    created = first.history.earliest()
    assert (created.history_user, created.history_change_reason, created.history_type) == (
        operator,
        "import #7",
        "+",
    )
