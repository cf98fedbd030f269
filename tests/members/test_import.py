"""Member list import: the shared sample's quirks, encodings, re-import, the admin flow."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from members.importing import DetectedEncodingCSV, MemberResource
from members.models import Identity, Member
from tests.conftest import login
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).resolve().parent.parent / "fixtures" / "members.csv"


@pytest.fixture
def stores(db):
    return [StoreFactory(code="S0000"), StoreFactory(code="S0001")]


def run_import(data: bytes, *, dry_run: bool = True, user=None):
    dataset = DetectedEncodingCSV().create_dataset(data)
    return MemberResource().import_data(dataset, dry_run=dry_run, raise_errors=False, user=user)


def rejected(result) -> dict[int, str]:
    """{row number: all reasons as one string}."""
    return {
        row.number: " ".join(str(m) for ms in row.error_dict.values() for m in ms)
        for row in result.invalid_rows
    }


def test_sample_member_list_preview_names_each_rejected_row(stores):
    result = run_import(SAMPLE.read_bytes())
    reasons = rejected(result)
    # rows counted after the header, blank line removed: 刘洋 is row 4, 陈静 row 5
    assert set(reasons) == {4, 5}
    assert "1380000000" in reasons[4] and "1979-02-30" in reasons[4]
    assert "+8613812345678" in reasons[5]  # 陈静 uses 张伟's phone: rejected, not merged
    assert result.totals["new"] == 4
    assert Member.objects.count() == 0  # a preview writes nothing


def test_a_clean_file_imports_with_identities_and_a_second_run_changes_nothing(stores, operator):
    clean = "\n".join(
        line
        for line in SAMPLE.read_text("utf-8-sig").splitlines()
        if "刘洋" not in line and "陈静" not in line
    ).encode("utf-8")
    result = run_import(clean, dry_run=False, user=operator)
    assert not result.has_validation_errors() and result.totals["new"] == 4
    wang = Member.objects.get(name="王芳")
    assert wang.mobile.as_e164 == "+8613912345678"
    assert wang.birthday.isoformat() == "1992-11-02"
    assert wang.registration_channel == "wechat_mp"
    assert wang.identities.filter(kind=Identity.Kind.WECHAT_UNIONID, value="oUnion_wangfang_02").exists()
    assert Member.objects.get(name="张伟").registration_store.code == "S0000"
    assert wang.history.first().history_user == operator

    again = run_import(clean, dry_run=False, user=operator)
    assert again.totals["skip"] == 4 and again.totals["new"] == 0
    assert Member.objects.count() == 4


def test_gbk_file_with_english_headers(stores):
    text = "name,mobile,gender,birthday,card\n欧阳娜娜,13900001111,女,1990年5月6日,vip9\n"
    result = run_import(text.encode("gbk"), dry_run=False)
    assert not result.has_validation_errors(), rejected(result)
    member = Member.objects.get()
    assert member.name == "欧阳娜娜" and member.birthday.isoformat() == "1990-05-06"
    assert member.identities.filter(kind="card", value="VIP9").exists()


def test_row_matching_an_existing_member_partly_is_rejected_with_that_member(stores):
    existing = MemberFactory(mobile="13900001111")
    text = "姓名,手机号,会员卡号\n某人,13900001111,VIP777\n"
    reasons = rejected(run_import(text.encode("utf-8")))
    assert existing.member_number in reasons[1]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("张三,13900002222,外星,,,", "gender"),
        ("张三,13900002222,男,not-a-date,,", "not a date"),
        ("张三,13900002222,男,1850-01-01,,", "too far in the past"),
        ("张三,13900002222,男,,火星商城,", "Unknown channel"),
        ("张三,13900002222,男,,门店,S9999", "Unknown store"),
        ("张三,,男,,门店,", "needs a phone"),
        ("张" * 60 + ",13900002222,男,,门店,", "Longer than 50"),
    ],
)
def test_garbage_is_rejected_per_row_with_a_reason(stores, row, reason):
    text = "姓名,手机号,性别,生日,注册渠道,注册门店\n" + row + "\n"
    reasons = rejected(run_import(text.encode("utf-8"), dry_run=False))
    assert reason in reasons[1]
    assert Member.objects.count() == 0


def test_admin_import_preview_and_confirm(client, operator, stores):
    login(client, operator)
    url = reverse("admin:members_member_import")
    upload = SimpleUploadedFile("members.csv", SAMPLE.read_bytes(), content_type="text/csv")
    preview = client.post(url, {"format": "0", "import_file": upload, "resource": "0"})
    assert preview.status_code == 200
    page = preview.content.decode()
    assert "“1979-02-30”不是真实存在的日期" in page  # the reason, in the operator's language
    assert "confirm_form" not in preview.context  # a file goes in whole
    assert Member.objects.count() == 0

    clean = "\n".join(line for line in SAMPLE.read_text("utf-8-sig").splitlines()[:4]).encode("gbk")
    upload = SimpleUploadedFile("members.csv", clean, content_type="text/csv")
    preview = client.post(url, {"format": "0", "import_file": upload, "resource": "0"})
    confirm = preview.context["confirm_form"]
    response = client.post(reverse("admin:members_member_process_import"), confirm.initial)
    assert response.status_code == 302
    assert Member.objects.count() == 3


def test_export_neutralises_formulas(client, operator, stores):
    MemberFactory(name='=HYPERLINK("http://evil")', mobile="13900003333")
    login(client, operator)
    response = client.post(
        reverse("admin:members_member_export"),
        {
            "format": "0",
            "resource": "0",
            **{f"memberexportresource_{f}": "on" for f in ["member_number", "name", "mobile"]},
        },
    )
    assert response.status_code == 200
    body = response.content.decode("utf-8-sig")
    assert "13900003333" in body
    assert "\n=HYPERLINK" not in body and ",=HYPERLINK" not in body
