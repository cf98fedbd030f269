"""Import profiles in the admin: edited as words (no JSON), made by mapping a sample file, kept
when built in; who may change them."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.urls import reverse

from members.imports.models import ImportProfile, ImportRun
from members.purchases.models import Purchase
from tests.conftest import login
from tests.imports.conftest import UPLOAD, confirm, profile, run_url, upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]

PROFILES = reverse("admin:imports_importprofile_changelist")
MAP = reverse("admin:imports_importprofile_map")
ENGLISH_FILE = (
    b"Receipt,Store,Member card,Amount,Time\r\n"
    b"R-0001,S0000,VIP90000001,128.00,2026-11-01 10:00:00\r\n"
    b'R-0002,S0000,VIP90000002,"1,024.50",2026-11-02 18:30:00\r\n'
    b"R-0003,S0001,VIP90000001,56.80,2026-11-03 09:15:00\r\n"
    b"R-0004,S0000,,12.00,2026-11-03 09:20:00\r\n"
)


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
