"""Static segments filled from an uploaded file (the import framework's "segment" profile) and
saved from the RFM page's member lists.

The file (GBK CSV, Chinese headers 会员号 / 手机号), rows as a spreadsheet numbers them:
2 甲 by member number            -> added
3 乙 by phone (+86 written)       -> added
4 甲 again, by phone              -> duplicate of row 2
5 an unknown member number        -> rejected: no such member
6 "12345" as a phone              -> rejected: not a phone number
7 丙 (closed) by number            -> rejected: closed
8 甲's number with 乙's phone      -> rejected: two different members
"""

from __future__ import annotations

import io

import openpyxl
import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from campaigns.journeys.defaults import WIN_BACK_SEGMENT
from campaigns.segments.models import Segment, SegmentMember
from campaigns.segments.services import segment_members_add
from members.imports import runner
from members.imports.files import rejected_rows_csv
from members.imports.models import ImportProfile, ImportRow, ImportRun
from members.imports.runner import import_confirm, import_run_execute
from members.imports.services import import_preview
from members.models import Member
from members.scoring.models import MemberScore
from tests.conftest import login
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def people(db):
    jia, yi, bing = MemberFactory(), MemberFactory(), MemberFactory()
    Member.objects.filter(pk=bing.pk).update(status=Member.Status.CLOSED)
    return jia, yi, bing


@pytest.fixture
def vip(db):
    return Segment.objects.create(name="VIP 名单", kind=Segment.Kind.STATIC)


def csv_file(jia, yi, bing) -> bytes:
    rows = [
        ("会员号", "手机号"),
        (jia.member_number, ""),
        ("", f"+86 {str(yi.mobile)[3:]}"),
        ("", str(jia.mobile)),
        ("812345678903", ""),
        ("", "12345"),
        (bing.member_number, ""),
        (jia.member_number, str(yi.mobile)),
    ]
    return "\r\n".join(",".join(row) for row in rows).encode("gbk")


def upload(data: bytes, user, segment, name="名单.csv") -> ImportRun:
    profile = ImportProfile.objects.get(code="segment_members")
    return import_preview(profile=profile, data=data, file_name=name, user=user, target_id=segment.pk)


def run(preview: ImportRun, user) -> ImportRun:
    import_confirm(run=preview, user=user, start=False)
    return import_run_execute(preview.pk)


def test_an_uploaded_list_fills_the_segment_and_says_why_rows_were_rejected(operator, people, vip):
    jia, yi, _bing = people
    data = csv_file(*people)
    preview = upload(data, operator, vip)
    assert (preview.rows_total, preview.rows_ok, preview.rows_duplicate, preview.rows_rejected) == (
        7,
        2,
        1,
        4,
    )
    done = run(preview, operator)
    assert (done.status, done.members_listed) == (ImportRun.Status.DONE, 2)
    assert set(SegmentMember.objects.filter(segment=vip).values_list("member_id", flat=True)) == {
        jia.pk,
        yi.pk,
    }
    vip.refresh_from_db()
    assert vip.member_count == 2
    with translation.override("en"):
        rejected = rejected_rows_csv(done).decode("utf-8-sig").splitlines()
    assert rejected[0] == "会员号,手机号,error"
    assert [line.split(",", 2)[2] for line in rejected[1:]] == [
        "row 5: 会员号: No member has 会员号 812345678903.",
        "row 6: 手机号: “12345” is not a valid phone number (wrong length or unknown prefix).",
        f"row 7: 会员号: Member {_closed_number(people)} is closed.",
        "row 8: 会员号: The member number and the phone are two different members.",
    ] or rejected


def _closed_number(people) -> str:
    return people[2].member_number


def test_the_same_file_again_adds_nothing(operator, people, vip):
    data = csv_file(*people)
    run(upload(data, operator, vip), operator)
    again = upload(data, operator, vip)
    assert (again.rows_ok, again.rows_duplicate) == (0, 3)
    reasons = again.rows.filter(state=ImportRow.State.DUPLICATE).values_list("errors", flat=True)
    assert sorted(r[""][0]["code"] for r in reasons) == ["already_listed", "already_listed", "same_member"]
    assert SegmentMember.objects.filter(segment=vip).count() == 2


def test_a_member_added_meanwhile_is_a_duplicate_not_twice(operator, people, vip):
    jia, _yi, _bing = people
    preview = upload(csv_file(*people), operator, vip)
    assert segment_members_add(segment=vip, member_ids=[jia.pk]) == {jia.pk}  # another upload
    done = run(preview, operator)
    assert done.members_listed == 1 and SegmentMember.objects.filter(segment=vip).count() == 2
    vip.refresh_from_db()
    assert vip.member_count == 2


def test_a_workbook_with_the_columns_in_another_order(operator, people, vip):
    jia, yi, _bing = people
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["手机号码", "会员编号"])
    sheet.append([str(yi.mobile), ""])
    sheet.append(["", jia.member_number])
    out = io.BytesIO()
    book.save(out)
    done = run(upload(out.getvalue(), operator, vip, name="名单.xlsx"), operator)
    assert done.members_listed == 2


def test_the_upload_page_asks_for_the_segment(client, operator, store_staff, people, vip, monkeypatch):
    monkeypatch.setattr(runner, "job_start", import_run_execute)
    Segment.objects.create(name="动态")  # not a list: not offered
    login(client, operator)
    url = reverse("admin:imports_importrun_upload")
    page = client.get(url)
    assert [label for _value, label in page.context["form"].fields["target"].choices] == [
        "---------",
        "VIP 名单",
    ]
    profile = ImportProfile.objects.get(code="segment_members")
    data = {"profile": profile.pk, "file": io.BytesIO(csv_file(*people))}
    data["file"].name = "名单.csv"
    refused = client.post(url, data)
    assert refused.status_code == 200 and "target" in refused.context["form"].errors
    data = {"profile": profile.pk, "target": vip.pk, "file": io.BytesIO(csv_file(*people))}
    data["file"].name = "名单.csv"
    created = client.post(url, data)
    preview = ImportRun.objects.get()
    assert created.status_code == 302 and preview.target_id == vip.pk
    assert (
        "VIP 名单"
        in client.get(reverse("admin:imports_importrun_change", args=[preview.pk])).content.decode()
    )
    # store staff neither see the layout nor may use it
    login(client, store_staff)
    form = client.get(url).context["form"]
    assert "target" not in form.fields and profile not in form.fields["profile"].queryset
    with pytest.raises(ValidationError) as refused:
        upload(csv_file(*people), store_staff, vip)
    assert refused.value.code == "profile"


# --- saved from the RFM page -----------------------------------------------------------------


@pytest.fixture
def scored(db):
    important = [MemberFactory() for _ in range(3)]
    other = MemberFactory()
    for member in important:
        MemberScore.objects.create(member=member, segment="important_value", stage="active")
    MemberScore.objects.create(member=other, segment="general_value", stage="active")
    return important, other


def test_saving_an_rfm_list_keeps_every_member_it_shows(client, operator, scored):
    important, _other = scored
    login(client, operator)
    page = client.get(reverse("admin:insight_rfm"))
    assert b"rfm-save" in page.content
    response = client.post(
        reverse("admin:insight_rfm_save"), {"rfm": "important_value", "name": "重要价值客户"}
    )
    segment = Segment.objects.get(name="重要价值客户")
    assert response.status_code == 302 and response["Location"].endswith(f"/{segment.pk}/change/")
    assert (segment.kind, segment.member_count, segment.created_by) == ("static", 3, operator)
    assert set(SegmentMember.objects.filter(segment=segment).values_list("member_id", flat=True)) == {
        m.pk for m in important
    }
    # the same name again: refused with the reason, nothing written
    again = client.post(reverse("admin:insight_rfm_save"), {"rfm": "important_value", "name": "重要价值客户"})
    assert again.status_code == 302 and Segment.objects.exclude(name=WIN_BACK_SEGMENT).count() == 1
    assert [str(m) for m in get_messages(again.wsgi_request)][-1] == "已存在同名的分群。"


def test_only_who_may_add_segments_can_save(client, finance, store_staff, scored):
    for user in (finance, store_staff):
        login(client, user)
        response = client.post(reverse("admin:insight_rfm_save"), {"rfm": "important_value", "name": "x"})
        assert response.status_code == 403
    login(client, finance)
    assert b"rfm-save" not in client.get(reverse("admin:insight_rfm")).content
    assert not Segment.objects.exclude(name=WIN_BACK_SEGMENT).exists()  # only the one shipped


def test_the_command_line_fills_a_segment_too(tmp_path, people, vip):
    jia, yi, _bing = people
    path = tmp_path / "名单.csv"
    path.write_bytes(f"会员号,手机号\r\n{jia.member_number},\r\n,{yi.mobile}\r\n".encode("gbk"))
    call_command("import_file", str(path), profile="segment_members", target=vip.pk, stdout=io.StringIO())
    assert SegmentMember.objects.filter(segment=vip).count() == 2
    with pytest.raises(SystemExit) as refused:  # no segment named: the file is refused as a whole
        call_command("import_file", str(path), profile="segment_members", stderr=io.StringIO())
    assert refused.value.code == 2


def test_store_staff_given_the_permissions_save_only_their_stores_members(client, store_staff, store, scored):
    """Scored members of no store of theirs (the fixture's) stay out."""
    from django.contrib.auth.models import Permission

    mine = MemberFactory(registration_store=store)
    MemberScore.objects.create(member=mine, segment="important_value", stage="active")
    store.staff.add(store_staff)
    for codename in ("view_programme", "add_segment"):
        store_staff.user_permissions.add(Permission.objects.get(codename=codename))
    login(client, store_staff)
    client.post(reverse("admin:insight_rfm_save"), {"rfm": "important_value", "name": "本店重要价值"})
    saved = Segment.objects.get(name="本店重要价值")
    assert list(SegmentMember.objects.filter(segment=saved).values_list("member_id", flat=True)) == [mine.pk]
