"""Imports in the admin: upload, preview, confirm, progress and result; who sees which runs;
files that cannot be read; roles. Import profiles: test_admin_profiles.py."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.urls import reverse

from config.common.roles import Role
from members.imports.models import ImportRow, ImportRun
from members.imports.reasons import errors_texts
from members.purchases.models import Purchase
from points.models import PointType
from tests.admin_walk import visible_text
from tests.conftest import login
from tests.imports.conftest import POS, UPLOAD, confirm, preview, run_url, sample_bytes, upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]

RUNS = reverse("admin:imports_importrun_changelist")
POS_REJECTED = [14, 33, 40, 64, 83, 90, 114, 133, 140, 164, 183, 190]  # see tests/imports/test_samples.py


def staff_of(make_user, username: str, *stores):
    user = make_user(Role.STORE_STAFF, username=username)
    for store in stores:
        store.staff.add(user)
    return user


# --- the whole way, as an operator --------------------------------------------------------------


def test_operator_imports_the_pos_sample_from_upload_to_result(
    en, operator, sample_stores, jobs, django_capture_on_commit_callbacks
):
    login(en, operator)
    response = upload(en, sample_bytes(POS))
    run = ImportRun.objects.get()
    assert response.status_code == 302 and response["Location"] == run_url(run)
    assert run.created_by == operator and run.store is None

    page = en.get(run_url(run)).content.decode()
    # counts: rows, to import, already imported, rejected, skipped
    for css, count in [("total", 201), ("ok", 184), ("duplicate", 4), ("rejected", 12), ("skipped", 1)]:
        assert f'<td class="count-{css}">{count}</td>' in page
    # the first rows as read, under the file's own column names
    for header in ["门店编码", "小票号", "会员卡号", "实收金额", "交易时间"]:
        assert f'<th scope="col">{header}</th>' in page
    assert "S0001-000000000" in page and "2026-03-30 08:28:53" in page and "2347.30" in page
    # the rejected rows with their numbers and reasons, named by the file's columns
    for number in POS_REJECTED:
        assert f"<td>{number}</td>" in page
    assert "手机号: “1860019437” is not a valid phone number" in page
    assert "Confirm the import" in page and run_url(run, "rejected_csv") in page

    confirm(en, run, django_capture_on_commit_callbacks)
    assert jobs == [run.pk]
    progress = en.get(run_url(run, "progress")).json()
    assert progress["percent"] == 100 and progress["finished"] and progress["status"] == "done"
    assert progress["rows_done"] == 184 and progress["rows_text"] == "184 of 184 rows"

    run.refresh_from_db()
    response = en.get(run_url(run))
    page = response.content.decode()
    assert 'id="import-result"' in page and 'id="import-progress"' not in page
    assert f'<td class="result-purchases">{run.purchases_created}</td>' in page
    assert run.purchases_created == Purchase.objects.count() > 0
    assert f'<td class="result-refunds">{run.refunds_created}</td>' in page
    assert f'<td class="result-members">{run.members_created}</td>' in page and run.members_created > 0
    # each point type by its name, the points with thousands separators; no codes, no "null"
    names = dict(PointType.objects.values_list("code", "name"))
    assert set(run.points_awarded) == {"points", "growth"}
    for code, points in run.points_awarded.items():
        assert f"{names[code]} awarded" in page and f'<td class="result-points">{points:,}</td>' in page
    # (the admin theme's own script says "null": the words a reader sees never do)
    assert "(points)" not in page and "(growth)" not in page and "null" not in visible_text(response)
    assert run.points_awarded["points"] > 1000
    assert '<td class="result-rejected">12</td>' in page and "<td>190</td>" in page

    response = en.get(run_url(run, "rejected_csv"))
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="pos_receipts_gbk-rejected.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][-1] == "error" and rows[0][0] == "门店编码"
    assert len(rows) == 1 + 12
    assert rows[1][-1].startswith("row 14: 手机号: ")


def test_the_confirmation_never_reads_the_file_again(
    en, operator, sample_stores, monkeypatch, jobs, django_capture_on_commit_callbacks
):
    run = preview(POS, user=operator)
    login(en, operator)

    def refuse(*args, **kwargs):
        raise AssertionError("the file was parsed again")

    monkeypatch.setattr("members.imports.profiles.read_table", refuse)
    monkeypatch.setattr("members.imports.services.parse_rows", refuse)
    confirm(en, run, django_capture_on_commit_callbacks)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.DONE and run.rows_done == 184


# --- store staff: their stores, their runs ------------------------------------------------------


def test_staff_of_one_store_import_its_rows_only_and_nobody_else_sees_the_run(
    en, make_user, sample_stores, jobs, django_capture_on_commit_callbacks
):
    s0, s1, _s2 = sample_stores
    staff = staff_of(make_user, "staff_s0", s0)
    login(en, staff)
    page = en.get(UPLOAD).content.decode()
    assert "S0000 门店0" in page and "S0001" not in page  # only their store to pick

    upload(en, sample_bytes(POS))  # the file says which store each row is from
    run = ImportRun.objects.get()
    assert run.store is None and run.created_by == staff
    rows = run.rows.filter(state=ImportRow.State.REJECTED)
    other = rows.exclude(number__in=POS_REJECTED)
    assert other.exists()
    assert not ImportRow.objects.filter(
        run=run, state=ImportRow.State.PENDING, values__store_code="S0001"
    ).exists()
    page = en.get(run_url(run)).content.decode()
    assert "门店编码: Store S0001 is not one of your stores." in page

    confirm(en, run, django_capture_on_commit_callbacks)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.DONE
    assert set(Purchase.objects.values_list("store__code", flat=True)) == {"S0000"}
    assert en.get(run_url(run, "progress")).json()["percent"] == 100
    response = en.get(run_url(run, "rejected_csv"))
    assert response.status_code == 200 and b"is not one of your stores" in response.content

    # another staff user (even of the same store) gets 404 on everything of this run
    other_staff = staff_of(make_user, "staff_s1", s0, s1)
    login(en, other_staff)
    for name in ["change", "progress", "rejected", "rejected_csv"]:
        assert en.get(run_url(run, name)).status_code == 404, name
    assert en.post(run_url(run, "cancel")).status_code == 404
    page = en.get(RUNS).content.decode()
    assert "pos_receipts_gbk.csv" not in page


def test_staff_with_several_stores_import_theirs_only(en, make_user, sample_stores):
    s0, s1, s2 = sample_stores
    staff = staff_of(make_user, "staff_two", s0, s1)
    login(en, staff)
    orders = sample_bytes("ecommerce_orders")  # no store column: the store must be chosen
    response = upload(en, orders, code="ecommerce_orders", name="orders.csv")
    assert response.status_code == 200 and "Choose one of your stores" in response.content.decode()
    response = upload(en, sample_bytes(POS), store=s2)  # not theirs: not even offered
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not ImportRun.objects.exists()
    response = upload(en, sample_bytes(POS), store=s1)
    run = ImportRun.objects.get()
    assert run.store == s1 and run.rows_ok > 0
    upload(en, sample_bytes(POS), name="all-stores.csv")  # the file says each row's store
    run = ImportRun.objects.get(file_name="all-stores.csv")
    other = run.rows.filter(state=ImportRow.State.REJECTED, errors__store_code__isnull=False)
    reasons = {row.number: errors_texts(row.errors)["store_code"][0] for row in other}
    theirs = [number for number, text in reasons.items() if text == "Store S0002 is not one of your stores."]
    assert len(theirs) == 57  # the sample's 61 S0002 rows, 4 of them rejected for a phone or date first
    unknown = {number for number, text in reasons.items() if text.startswith("Unknown store code S0999")}
    assert unknown == {40, 90, 140, 190} and len(reasons) == 57 + 4
    pending = set(run.rows.filter(state=ImportRow.State.PENDING).values_list("values__store_code", flat=True))
    assert pending == {"S0000", "S0001"}


def test_staff_see_only_the_runs_they_uploaded_operators_all(en, make_user, operator, sample_stores):
    s0 = sample_stores[0]
    mine = staff_of(make_user, "mine", s0)
    theirs = staff_of(make_user, "theirs", s0)
    preview(POS, user=mine, name="mine.csv")
    preview(POS, user=theirs, name="theirs.csv")
    page = login(en, mine).get(RUNS).content.decode()
    assert "mine.csv" in page and "theirs.csv" not in page
    page = login(en, operator).get(RUNS).content.decode()
    assert "mine.csv" in page and "theirs.csv" in page


# --- files that cannot be read --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (bytes(range(256)) * 64, "neither UTF-8 nor GBK"),
        (b"PK\x03\x04" + b"\x00garbage" * 50, "not a readable XLSX workbook"),
        (b"\xef\xbb\xbf\r\n\r\n", "The file is empty."),
        ("门店编码,小票号,金额\r\nS0000,R1,10\r\n".encode("gbk"), "Missing columns"),
    ],
    ids=["binary", "broken-xlsx", "blank", "missing-columns"],
)
def test_a_file_that_cannot_be_read_shows_on_the_form(en, operator, sample_stores, data, message):
    response = upload(login(en, operator), data)
    assert response.status_code == 200
    # on the form, as the refusal of its field (drawn by the admin theme under the field)
    assert message in response.content.decode()
    form_errors = response.context["form"].errors.values()
    assert any(message in error for errors in form_errors for error in errors)
    assert not ImportRun.objects.exists()


def test_an_empty_upload_is_refused_by_the_form(en, operator):
    response = upload(login(en, operator), b"")
    assert response.status_code == 200 and "The submitted file is empty." in response.content.decode()


# --- cancel and resume ----------------------------------------------------------------------------


def test_a_preview_is_cancelled_and_then_cannot_be_confirmed(en, operator, sample_stores, jobs):
    run = preview(POS, user=operator)
    login(en, operator)
    assert en.get(run_url(run, "cancel")).status_code == 405
    page = en.post(run_url(run, "cancel"), follow=True).content.decode()
    run.refresh_from_db()
    assert run.status == ImportRun.Status.CANCELLED and "nothing of the file was imported" in page
    page = en.post(run_url(run, "confirm"), follow=True).content.decode()
    assert "This import was cancelled; upload the file again" in page and jobs == []
    page = en.post(run_url(run, "cancel"), follow=True).content.decode()
    assert "Only an import not confirmed yet can be cancelled." in page
    assert not Purchase.objects.exists()


def test_an_operator_resumes_a_failed_import_staff_may_not(
    en, operator, make_user, sample_stores, jobs, django_capture_on_commit_callbacks
):
    s0 = sample_stores[0]
    staff = staff_of(make_user, "staff_s0", s0)
    run = preview(POS, user=staff)
    ImportRun.objects.filter(pk=run.pk).update(status=ImportRun.Status.FAILED, error="database gone")
    page = login(en, staff).get(run_url(run)).content.decode()
    assert "database gone" in page and "Resume the import" not in page
    assert en.post(run_url(run, "resume")).status_code == 403

    page = login(en, operator).get(run_url(run)).content.decode()
    assert 'id="import-resume"' in page and "Resume the import" in page
    en.post(run_url(run, "resume"))
    run.refresh_from_db()
    assert jobs == [run.pk] and run.status == ImportRun.Status.DONE and run.rows_done == run.rows_ok


def test_a_running_import_polls_its_progress_and_refreshes_without_javascript(en, operator, sample_stores):
    run = preview(POS, user=operator)
    ImportRun.objects.filter(pk=run.pk).update(
        status=ImportRun.Status.RUNNING, rows_done=39, busy_seconds=3.0
    )
    login(en, operator)
    page = en.get(run_url(run)).content.decode()
    assert '<progress max="100" value="21"' in page  # 39 of 184 rows
    assert 'http-equiv="refresh"' in page and "imports/imports.js" in page
    assert f'data-url="{run_url(run, "progress")}"' in page
    assert "13.0 rows per second" in page and "about 11 s left" in page  # (184 - 39) / 13 = 11.2
    assert 'id="import-resume" hidden' in page  # shown by the script once progress stalls
    progress = en.get(run_url(run, "progress")).json()
    assert progress == {
        "status": "running", "status_label": "Running", "percent": 21, "rows_done": 39, "rows_total": 184,
        "rows_per_second": 13.0, "seconds_left": 11, "finished": False, "rows_text": "39 of 184 rows",
        "rate_text": "13.0 rows per second", "left_text": "about 11 s left",
    }  # fmt: skip


# --- the list -------------------------------------------------------------------------------------


def test_run_list_is_read_only_with_counts_and_flat_query_count(
    en, operator, sample_stores, django_assert_max_num_queries
):
    header = "门店编码,小票号,会员卡号,交易类型,应收金额,实收金额,交易时间\r\n"
    data = header + "S0000,R1,VIP1,销售,10,10,2026-11-01 10:00\r\n"
    ImportRun.objects.all().delete()
    preview(POS, data.encode(), user=operator, name="first.csv")
    login(en, operator)
    en.get(RUNS)
    # session, user, permissions (user, groups), profiles and stores of the filters, count, page,
    # the risk desk's badge; on PostgreSQL the paginator first asks the planner's estimate of the
    # table's size
    queries = 10 if connection.vendor == "postgresql" else 9
    with django_assert_max_num_queries(queries):
        page = en.get(RUNS).content.decode()
    assert "first.csv" in page and "Import a file" in page
    assert reverse("admin:imports_importrun_add") not in page
    for number in range(19):
        preview(POS, data.encode(), user=operator, name=f"more-{number}.csv")
    with django_assert_max_num_queries(queries):
        page = en.get(RUNS).content.decode()
    assert page.count("more-") == 19
    run = ImportRun.objects.first()
    assert en.get(reverse("admin:imports_importrun_delete", args=[run.pk])).status_code == 403
    assert en.post(reverse("admin:imports_importrun_add")).status_code == 403


# --- roles ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "granted", "refused"),
    [
        (
            Role.STORE_STAFF,
            ["imports.import_file", "imports.view_importrun", "imports.view_importprofile"],
            ["imports.change_importprofile", "imports.add_importprofile", "imports.change_importrun"],
        ),
        (
            Role.OPERATOR,
            [
                "imports.import_file",
                "imports.view_importrun",
                "imports.add_importprofile",
                "imports.change_importprofile",
            ],
            ["imports.delete_importprofile", "imports.delete_importrun"],
        ),
        (Role.FINANCE, [], ["imports.import_file", "imports.view_importrun"]),
    ],
)
def test_role_permissions(role, granted, refused):
    perms = {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Group.objects.get(name=role.value).permissions.all()
    }
    assert set(granted) <= perms
    assert not set(refused) & perms


def test_users_without_the_import_permission_cannot_upload(en, finance):
    login(en, finance)
    assert en.get(UPLOAD).status_code == 403
    assert en.get(RUNS).status_code == 403


# --- zh-hans ----------------------------------------------------------------------------------------


def test_pages_follow_the_language_chinese_first(client, operator, sample_stores):
    run = preview(POS, user=operator)
    login(client, operator)
    page = client.get(run_url(run)).content.decode()
    assert '<html lang="zh-hans"' in page
    assert "确认导入" in page and "取消" in page
    page = client.get(UPLOAD).content.decode()
    assert "导入文件" in page
