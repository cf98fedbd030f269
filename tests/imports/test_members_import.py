"""Member lists through the import framework (profile ``members``): who is new, who is already a
member, who collides with someone else; with the preview, the job and the rejected-rows file of
every import."""

from __future__ import annotations

import pytest

from members.imports.files import rejected_rows_csv
from members.imports.models import ImportRow
from members.imports.reasons import errors_text
from members.models import Identity, Member
from tests.factories import MemberFactory
from tests.imports.conftest import preview, run_file, sample_bytes

pytestmark = pytest.mark.django_db
HEADER = "姓名,手机号,性别,生日,注册渠道,注册门店\n"


def reasons(run) -> dict[int, str]:
    rows = run.rows.filter(state=ImportRow.State.REJECTED)
    return {row.number: errors_text(row.errors) for row in rows}


def test_the_sample_imports_its_good_rows_and_names_the_others(sample_stores, operator):
    run = run_file("members", user=operator)
    assert set(reasons(run)) == {10, 12}
    assert "1580006767" in reasons(run)[10] and "1991-02-30" in reasons(run)[10]
    assert "row 2" in reasons(run)[12]  # 张军 gives 吴洋's phone: rejected, never merged
    assert run.members_created == 8 == Member.objects.count()
    yang = Member.objects.get(name="杨磊")  # 1972/07/07, 微信小程序
    assert (yang.birthday.isoformat(), yang.registration_channel) == ("1972-07-07", "wechat_mp")
    assert Member.objects.get(name="吴洋").registration_store.code == "S0000"
    assert yang.history.first().history_user == operator  # who confirmed the import

    again = run_file("members", user=operator)
    assert (again.rows_duplicate, again.members_created) == (8, 0)
    assert Member.objects.count() == 8


def test_the_rejected_rows_file_goes_back_in_once_fixed(sample_stores):
    run = run_file("members")
    text = rejected_rows_csv(run).decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[0].endswith(",error") and len(lines) == 3
    assert lines[1].startswith("吴静,1580006767") and "1991-02-30" in lines[1]
    fixed = text.replace("1580006767", "15800067673").replace("1991-02-30", "1991-02-28")
    again = run_file("members", fixed.encode("utf-8-sig"), name="fixed.csv")
    assert again.members_created == 1  # 吴静; 张军 still shares 吴洋's phone
    assert Member.objects.get(name="吴静").birthday.isoformat() == "1991-02-28"


def test_gbk_file_with_english_headers(db):
    text = "name,mobile,gender,birthday,card\n欧阳娜娜,13900001111,女,1990年5月6日,vip9\n"
    run_file("members", text.encode("gbk"), name="en.csv")
    member = Member.objects.get()
    assert member.name == "欧阳娜娜" and member.birthday.isoformat() == "1990-05-06"
    assert member.identities.filter(kind=Identity.Kind.CARD, value="VIP9").exists()


def test_a_row_matching_an_existing_member_partly_is_rejected_with_that_member(db):
    existing = MemberFactory(mobile="13900001111")
    run = preview("members", "姓名,手机号,会员卡号\n某人,13900001111,VIP777\n".encode())
    assert existing.member_number in reasons(run)[2]


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
def test_garbage_is_rejected_per_row_with_a_reason(db, row, reason):
    run = run_file("members", (HEADER + row + "\n").encode())
    assert reason in reasons(run)[2]
    assert Member.objects.count() == 0


def test_the_sample_file_is_the_repositorys_own():
    assert sample_bytes("members").startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, as a CRM writes it


def test_the_member_list_links_to_the_import_with_the_members_layout(client, operator, store_staff):
    from django.urls import NoReverseMatch, reverse

    from tests.conftest import login

    page = login(client, operator).get(reverse("admin:members_member_changelist")).content.decode()
    link = reverse("admin:imports_importrun_upload") + "?profile=members"
    assert f'href="{link}"' in page and "导入会员" in page
    upload = client.get(link).content.decode()
    assert "selected>Member list" in upload or "selected>会员" in upload
    with pytest.raises(NoReverseMatch):  # there is no separate member import page
        reverse("admin:members_member_import")
    page = login(client, store_staff).get(reverse("admin:members_member_changelist")).content.decode()
    assert link not in page  # counter staff import receipts, not member lists


def test_store_staff_cannot_import_member_lists(sample_stores, store_staff):
    from django.core.exceptions import ValidationError

    sample_stores[0].staff.add(store_staff)
    with pytest.raises(ValidationError, match="Member lists are imported by operators"):
        preview("members", user=store_staff)
