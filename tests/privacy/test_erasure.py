"""A member's erasure request (PIPL art. 47): after it, no table or history table holds their name,
phones, e-mail or ids anywhere, and the books are exactly what they were."""

from __future__ import annotations

import datetime

import pytest
from django.apps import apps
from django.db import models
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from benefits.rewards import reward_redeem
from campaigns.insight.finance import roll_forward
from campaigns.insight.rollups import day_rollup
from members.imports.models import ImportProfile
from members.imports.services import import_preview
from members.messaging.services import Outgoing, message_queue, messages_send_due
from members.models import Identity, Member
from members.oneid.models import DuplicateCandidate
from members.privacy.models import ErasureRequest
from members.privacy.services import ErasureRefused, erasure_approve, erasure_request
from members.services import member_update
from points.selectors import ledger_problems, points_liability
from tests.benefits.conftest import give_points
from tests.factories import MemberFactory, StoreFactory
from tests.oneid.conftest import buy
from tests.walk_data import _pos_file

pytestmark = pytest.mark.django_db

NAME, PHONE, CARD, UNIONID, EMAIL = (
    "欧阳测试",
    "13812340000",
    "CARD-ERASE-1",
    "oUnionErase1",
    "erase@example.com",
)
NEEDLES = [NAME, PHONE, CARD, UNIONID, EMAIL]


def everywhere(needle: str) -> list[str]:
    """Every table (history tables, many-to-many tables too) and text, JSON or binary column
    that holds ``needle``: 'app.Model.field'."""
    found = []
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.concrete_fields:
            name = f"{model._meta.label}.{field.name}"
            if isinstance(field, models.BinaryField):
                for value in model._default_manager.values_list(field.attname, flat=True):
                    if value and needle in bytes(value).decode("utf-8", "replace"):
                        found.append(name)
            elif isinstance(field, models.CharField | models.TextField | models.JSONField):
                rows = model._default_manager.annotate(_text=Cast(field.attname, TextField()))
                if rows.filter(_text__contains=needle).exists():
                    found.append(name)
    return found


def test_nothing_of_the_member_is_left_and_the_books_are_unchanged(
    operator, approver, partner_a, gift, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    store = StoreFactory(code="E001", name="擦除门店")
    member = MemberFactory(
        name=NAME, mobile=PHONE, card=CARD, unionid=UNIONID, email=EMAIL, registration_store=store
    )
    other = MemberFactory(name="旁人")  # someone else: untouched
    member_update(member=member, city="杭州", actor=operator)  # a version in the history
    buy(member, "300.00", at=timezone.now() - datetime.timedelta(days=10))
    give_points(member, 2000)
    reward_redeem(member=member, reward=gift, idempotency_key="r-1", ship_to=f"杭州市某路1号 {NAME} {PHONE}")
    message_queue(Outgoing(member=member, channel="sms", body=f"{NAME}，欢迎入会", key="hi", kind="service"))
    messages_send_due()
    # the brand's app looked the member up through the API: the answer is stored for retries
    assert partner_a.post("/api/v1/members/", {"mobile": PHONE, "name": NAME}).status_code == 200
    # a POS file named the member (and was previewed)
    when = f"{timezone.localtime() - datetime.timedelta(days=1):%Y-%m-%d %H:%M:%S}"
    import_preview(
        profile=ImportProfile.objects.get(code="pos_receipts_gbk"),
        data=_pos_file([f"E001,擦除门店,E-1,{CARD},{PHONE},销售,10.00,10.00,{when},,C01"]),
        file_name="pos.csv",
        user=operator,
        store=store,
    )
    DuplicateCandidate.objects.create(
        first=member, second=other, found_at=timezone.now(), reasons=[{"code": "phone_form", "value": PHONE}]
    )
    assert all(everywhere(needle) for needle in NEEDLES), "the test must plant every value first"
    planted = set(everywhere(NAME)) | set(everywhere(PHONE))
    assert {
        "partners.IdempotentRequest.body",
        "imports.ImportRow.values",
        "messaging.Message.body",
    } <= planted
    for day in (timezone.localdate() - datetime.timedelta(days=10), timezone.localdate()):
        day_rollup(day)
    month = timezone.localdate().replace(day=1)
    books = (roll_forward(month, month), points_liability().outstanding_points, ledger_problems())

    request = erasure_request(member=member, reason="会员来电要求删除（工单 123）", actor=operator)
    with pytest.raises(ErasureRefused, match="someone other than"):
        erasure_approve(request=request, actor=operator)
    erasure_approve(request=request, actor=approver)

    assert {needle: everywhere(needle) for needle in NEEDLES} == {needle: [] for needle in NEEDLES}
    for day in (timezone.localdate() - datetime.timedelta(days=10), timezone.localdate()):
        day_rollup(day)
    assert (roll_forward(month, month), points_liability().outstanding_points, ledger_problems()) == books
    erased = Member.objects.get(pk=member.pk)
    assert (erased.status, erased.name, erased.mobile) == ("closed", "", None)
    assert erased.purchases.count() == 1  # the purchase stays, with the pseudonymous member number
    assert ErasureRequest.objects.get().status == ErasureRequest.Status.DONE
    # the ids are free again: the same phone can enrol as a new member
    assert MemberFactory(name="新会员", mobile=PHONE).pk != member.pk
    assert Identity.objects.filter(value=CARD).count() == 0
    assert Member.objects.get(pk=other.pk).name == "旁人"
