"""Imports in the admin: upload, preview, confirm, progress and result; who sees which runs;
files that cannot be read; import profiles edited without JSON and made by mapping a file."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.urls import reverse

from config.common.roles import Role
from members.imports import runner
from members.imports.models import ImportProfile, ImportRow, ImportRun
from members.imports.reasons import errors_texts
from members.imports.runner import import_run_execute
from members.purchases.models import Purchase
from points.models import PointType
from tests.admin_walk import visible_text
from tests.conftest import login
from tests.imports.conftest import preview, sample_bytes

pytestmark = pytest.mark.django_db

RUNS = reverse("admin:imports_importrun_changelist")
UPLOAD = reverse("admin:imports_importrun_upload")
PROFILES = reverse("admin:imports_importprofile_changelist")
MAP = reverse("admin:imports_importprofile_map")
POS = "pos_receipts_gbk"
POS_REJECTED = [14, 33, 40, 64, 83, 90, 114, 133, 140, 164, 183, 190]  # see tests/imports/test_samples.py
ENGLISH_FILE = (
    b"Receipt,Store,Member card,Amount,Time\r\n"
    b"R-0001,S0000,VIP90000001,128.00,2026-11-01 10:00:00\r\n"
    b'R-0002,S0000,VIP90000002,"1,024.50",2026-11-02 18:30:00\r\n'
    b"R-0003,S0001,VIP90000001,56.80,2026-11-03 09:15:00\r\n"
    b"R-0004,S0000,,12.00,2026-11-03 09:20:00\r\n"
)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def en(client):
    """Pages in English, so assertions do not depend on the zh-hans catalogue."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def jobs(monkeypatch):
    """The job runs inline when the confirmation commits (no thread, no broker)."""
    started: list[int] = []

    def start(run_id: int) -> None:
        started.append(run_id)
        import_run_execute(run_id)

    monkeypatch.setattr(runner, "job_start", start)
    return started


def profile(code: str = POS) -> ImportProfile:
    return ImportProfile.objects.get(code=code)


def run_url(run: ImportRun, name: str = "change") -> str:
    return reverse(f"admin:imports_importrun_{name}", args=[run.pk])


def upload(client, data: bytes, *, code: str = POS, name: str = "pos_receipts_gbk.csv", store=None, **kw):
    file = io.BytesIO(data)
    file.name = name
    payload = {"profile": profile(code).pk, "file": file, "store": store.pk if store else ""}
    return client.post(UPLOAD, payload, **kw)


def confirm(client, run: ImportRun, capture) -> None:
    with capture(execute=True):
        response = client.post(run_url(run, "confirm"))
    assert response.status_code == 302


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
    # session, user, permissions (user, groups), profiles and stores of the filters, count, page;
    # on PostgreSQL the paginator first asks the planner's estimate of the table's size
    queries = 9 if connection.vendor == "postgresql" else 8
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


# --- profiles -------------------------------------------------------------------------------------


def map_sample(client, data: bytes, name: str = "english.csv", kind: str = "purchases", url: str = MAP):
    file = io.BytesIO(data)
    file.name = name
    payload = {"step": "1", "sample_file": file}
    if url == MAP:
        payload.update(kind=kind, file_format="auto", encoding="auto", delimiter="")
    return client.post(url, payload)


def columns_post(response, choices: dict[str, str], **details) -> dict[str, str]:
    form = response.context["columns_form"]
    post = {"step": "2", "sample": form.initial["sample"], **details}
    for index, header in enumerate(form.headers):
        post[f"column_{index}"] = choices.get(header, "")
    return post


def test_operator_maps_a_new_layout_and_imports_with_it_at_once(
    en, operator, sample_stores, jobs, django_capture_on_commit_callbacks
):
    login(en, operator)
    assert en.get(reverse("admin:imports_importprofile_add"))["Location"] == MAP
    response = map_sample(en, ENGLISH_FILE)
    page = response.content.decode()
    for header in ["Receipt", "Store", "Member card", "Amount", "Time"]:
        assert f'<th scope="col">{header}</th>' in page
    assert "R-0001" in page and "1,024.50" in page and "R-0004" in page
    assert "Order or receipt number (order_number)" in page and "— not imported —" in page

    details = {"name": "English POS", "code": "english-pos", "source": "english-pos", "channel": "store"}
    wrong = columns_post(response, {"Receipt": "order_number", "Amount": "paid", "Time": "paid"}, **details)
    page = en.post(MAP, wrong).content.decode()
    assert "are all mapped to Paid amount (paid)" in page
    assert "Say which column names the member" in page
    assert "Say which column holds the Transaction time or the Payment time." in page
    assert not ImportProfile.objects.filter(code="english-pos").exists()

    right = {
        "Receipt": "order_number", "Store": "store_code", "Member card": "card", "Amount": "paid",
        "Time": "occurred_at",
    }  # fmt: skip
    response = en.post(MAP, columns_post(response, right, **details))
    made = ImportProfile.objects.get(code="english-pos")
    assert response["Location"] == reverse("admin:imports_importprofile_change", args=[made.pk])
    assert made.columns == {
        "order_number": ["Receipt"], "store_code": ["Store"], "card": ["Member card"], "paid": ["Amount"],
        "occurred_at": ["Time"],
    }  # fmt: skip
    assert made.member_match == ["card"] and made.kind == "purchases" and not made.builtin
    assert made.history.get().history_user == operator
    # usable at once: offered for an upload
    assert f'<option value="{made.pk}">English POS</option>' in en.get(UPLOAD).content.decode()


def test_a_mapped_layout_with_one_amount_imports(
    en, operator, sample_stores, jobs, django_capture_on_commit_callbacks
):
    made = ImportProfile.objects.create(
        code="english-pos", name="English POS", source="english-pos", member_match=["card"],
        columns={"order_number": ["Receipt"], "store_code": ["Store"], "card": ["Member card"],
                 "paid": ["Amount"], "occurred_at": ["Time"]},
    )  # fmt: skip
    login(en, operator)
    upload(en, ENGLISH_FILE, code=made.code, name="english.csv")
    run = ImportRun.objects.get()
    assert (run.rows_total, run.rows_ok, run.rows_rejected) == (4, 3, 1)
    page = en.get(run_url(run)).content.decode()
    assert '<th scope="col">Receipt</th>' in page and "R-0002" in page
    assert "The row names no member" in page
    confirm(en, run, django_capture_on_commit_callbacks)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.DONE and run.purchases_created == 3 and run.members_created == 2
    assert sorted(Purchase.objects.values_list("order_number", "paid_amount")) == [
        ("R-0001", Decimal("128.00")), ("R-0002", Decimal("1024.50")), ("R-0003", Decimal("56.80")),
    ]  # fmt: skip


def test_mapper_refuses_unreadable_samples_and_a_lost_sample(en, operator):
    login(en, operator)
    page = map_sample(en, bytes(range(256)) * 64).content.decode()
    assert "neither UTF-8 nor GBK" in page
    page = map_sample(en, b"\r\n").content.decode()
    assert "The file is empty." in page
    page = en.post(MAP, {"step": "2", "sample": "tampered"}, follow=True).content.decode()
    assert "The sample was lost" in page and 'name="sample_file"' in page


def test_member_list_layout_needs_an_identity(en, operator):
    login(en, operator)
    data = "Full name,Phone,Town\r\n张伟,13812345678,上海\r\n".encode()
    response = map_sample(en, data, kind="members")
    form = response.context["columns_form"]
    assert [form[f"column_{i}"].initial for i in range(3)] == ["name", "mobile", ""]  # known words suggested
    details = {"name": "Old CRM", "code": "old-crm", "source": "old-crm", "channel": "import"}
    page = en.post(MAP, columns_post(response, {"Full name": "name"}, **details)).content.decode()
    assert "Say which column names the member" in page
    en.post(MAP, columns_post(response, {"Full name": "name", "Phone": "mobile", "Town": "city"}, **details))
    made = ImportProfile.objects.get(code="old-crm")
    assert made.columns == {"name": ["Full name"], "mobile": ["Phone"], "city": ["Town"]}
    assert made.member_match == ["mobile"] and made.kind == "members"


def test_remapping_a_builtin_profile_keeps_its_other_names(en, operator):
    login(en, operator)
    pos = profile()
    url = reverse("admin:imports_importprofile_remap", args=[pos.pk])
    data = "Store code,Receipt No,VIP,Type,Gross,Paid,Time\r\nS0000,R1,VIP1,sale,10,10,2026-11-01 10:00\r\n"
    response = map_sample(en, data.encode(), url=url)
    form = response.context["columns_form"]
    suggested = [form[f"column_{i}"].initial for i in range(7)]
    assert suggested == ["store_code", "order_number", "", "status", "gross", "paid", "occurred_at"]
    page = en.post(
        url, columns_post(response, dict(zip(form.headers, suggested, strict=True)))
    ).content.decode()
    assert "Say which column names the member" in page
    choices = {**dict(zip(form.headers, suggested, strict=True)), "VIP": "card"}
    en.post(url, columns_post(response, choices))
    pos.refresh_from_db()
    assert pos.columns["card"][0] == "VIP" and "会员卡号" in pos.columns["card"]
    assert pos.columns["order_number"][0] == "Receipt No" and "小票号" in pos.columns["order_number"]
    assert pos.member_match == ["card", "mobile"]


def test_profile_form_edits_statuses_store_codes_dates_and_matching_as_words(en, operator, sample_stores):
    orders = profile("ecommerce_orders")
    url = reverse("admin:imports_importprofile_change", args=[orders.pk])
    login(en, operator)
    page = en.get(url).content.decode()
    assert 'value="交易成功"' in page and 'value="已关闭, 交易关闭"' in page
    assert "Map the columns from a file" in page
    assert 'name="code"' not in page  # a shipped profile keeps its code
    form = en.get(url).context["adminform"].form
    post = {name: form[name].value() for name in form.fields}
    post = {name: value for name, value in post.items() if value is not None}
    post.update(
        statuses_completed="交易成功, 已收货",
        statuses_closed="已关闭，交易关闭",
        store_codes="TM=S0001\nJD = S0002",
        date_formats="%d.%m.%Y %H:%M",
        member_match=["mobile"],
        delimiter="",
    )
    response = en.post(url, post)
    assert response.status_code == 302, response.context["adminform"].form.errors
    orders.refresh_from_db()
    assert orders.statuses["已收货"] == "completed" and orders.statuses["交易关闭"] == "closed"
    assert orders.statuses["部分退款"] == "partly_refunded"
    assert orders.store_codes == {"TM": "S0001", "JD": "S0002"}
    assert orders.date_formats == ["%d.%m.%Y %H:%M"] and orders.member_match == ["mobile"]
    assert orders.history.latest().history_user == operator

    bad = {
        **post,
        "statuses_sale": "交易成功",
        "store_codes": "TM S0001\n",
        "date_formats": "dd.mm.yyyy",
        "member_match": [],
    }
    errors = en.post(url, bad).context["adminform"].form.errors
    assert "is already under" in str(errors) and "Line 1" in str(errors["store_codes"])
    assert "is not a date format" in str(errors["date_formats"]) and "member_match" in errors
    unknown = {**post, "store_codes": "TM=S9999"}
    assert "No store has the code S9999" in str(en.post(url, unknown).context["adminform"].form.errors)


def test_builtin_profiles_are_not_deleted_custom_ones_may_be(en, administrator):
    login(en, administrator)
    pos = profile()
    assert en.get(reverse("admin:imports_importprofile_delete", args=[pos.pk])).status_code == 403
    assert "delete_selected" not in en.get(PROFILES).content.decode()
    custom = ImportProfile.objects.create(
        code="custom", name="Custom", columns={"order_number": ["No"]}, member_match=["card"]
    )
    en.post(reverse("admin:imports_importprofile_delete", args=[custom.pk]), {"post": "yes"})
    assert not ImportProfile.objects.filter(pk=custom.pk).exists()


def test_staff_read_profiles_as_words_and_change_nothing(en, store_staff):
    pos = profile()
    login(en, store_staff)
    page = en.get(PROFILES).content.decode()
    assert "POS receipts" in page and reverse("admin:imports_importprofile_add") not in page
    page = en.get(reverse("admin:imports_importprofile_change", args=[pos.pk])).content.decode()
    assert "<li>Order or receipt number (order_number): 小票号 / 单据号" in page
    assert "<li>Sale: 销售, sale</li>" in page or "<li>Sale: sale, 销售</li>" in page  # jsonb orders keys
    assert "Map the columns from a file" not in page and 'name="name"' not in page
    assert en.get(MAP).status_code == 403
    assert en.get(reverse("admin:imports_importprofile_remap", args=[pos.pk])).status_code == 403


def test_history_of_profiles_is_read_only(en, operator):
    pos = profile()
    login(en, operator)
    url = reverse("admin:imports_importprofile_history", args=[pos.pk])
    assert en.get(url).status_code == 200


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
