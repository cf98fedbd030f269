"""Points in the admin: balances on the member page, read-only ledger, adjustments, liability."""

from __future__ import annotations

import pytest
from django.urls import reverse

from points.models import Account, AdjustmentRequest, Entry
from points.services import lots_activate_due, points_earn, points_spend
from tests.conftest import login
from tests.points.conftest import T0, days, key

pytestmark = pytest.mark.django_db


@pytest.fixture
def funded(alice):
    points_earn(member=alice, point_type="points", amount=300, source="purchase", source_ref="A1",
                idempotency_key=key(), at=T0)  # fmt: skip
    points_earn(member=alice, point_type="growth", amount=300, source="purchase", source_ref="A1",
                idempotency_key=key(), at=T0)  # fmt: skip
    lots_activate_due(now=T0 + days(7))
    points_spend(member=alice, point_type="points", amount=100, idempotency_key=key(), at=T0 + days(8))
    return Account.objects.get(member=alice, point_type__code="points")


def test_member_page_shows_balances_and_latest_entries(client, operator, alice, funded):
    page = (
        login(client, operator).get(reverse("admin:members_member_change", args=[alice.pk])).content.decode()
    )
    assert "积分" in page and "成长值" in page
    assert ">200<" in page  # available points
    assert "-100" in page  # the spend, among the latest entries
    assert reverse("admin:points_account_adjust", args=[funded.pk]) in page


def test_adjustment_from_the_admin_posts_once_even_when_submitted_twice(client, operator, funded):
    login(client, operator)
    url = reverse("admin:points_account_adjust", args=[funded.pk])
    form = {"amount": "50", "reason": "客诉补偿", "idempotency_key": "form-1"}
    assert client.post(url, form).status_code == 302
    assert client.post(url, form).status_code == 302
    assert Entry.objects.filter(kind="adjust").count() == 1
    funded.refresh_from_db()
    assert funded.available == 250


def test_adjustment_without_reason_is_refused(client, operator, funded):
    login(client, operator)
    response = client.post(
        reverse("admin:points_account_adjust", args=[funded.pk]), {"amount": "5", "reason": ""}
    )
    assert response.status_code == 200 and not Entry.objects.filter(kind="adjust").exists()


def test_large_adjustment_waits_in_the_queue_until_an_approver_posts_it(client, operator, approver, funded):
    login(client, operator)
    client.post(
        reverse("admin:points_account_adjust", args=[funded.pk]), {"amount": "5000", "reason": "补发"}
    )
    request = AdjustmentRequest.objects.get()
    changelist = reverse("admin:points_adjustmentrequest_changelist")
    assert "approve" not in client.get(changelist).content.decode()  # the maker has no approve action
    login(client, approver)
    response = client.post(changelist, {"action": "approve", "_selected_action": [request.pk]})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == "posted" and request.decided_by == approver
    funded.refresh_from_db()
    assert funded.available == 5200


def test_entry_list_is_read_only_and_its_query_count_does_not_grow(
    client, operator, funded, django_assert_num_queries
):
    login(client, operator)
    url = reverse("admin:points_entry_changelist")
    assert client.get(reverse("admin:points_entry_add")).status_code == 403
    client.get(url)
    with django_assert_num_queries(8):  # session, user, 2x perms, risk badge, filter, count, page
        response = client.get(url, {"kind": "earn"})
    assert len(response.context["cl"].result_list) == 2
    for _ in range(30):
        points_spend(
            member=funded.member, point_type="points", amount=1, idempotency_key=key(), at=T0 + days(9)
        )
    with django_assert_num_queries(8):  # session, user, 2x perms, risk badge, filter, count, page
        response = client.get(url, {"kind": "spend"})
    assert len(response.context["cl"].result_list) == 31
    entry = Entry.objects.first()
    response = client.post(reverse("admin:points_entry_change", args=[entry.pk]), {"amount": "999"})
    assert response.status_code == 403


def test_finance_reads_and_downloads_the_liability(client, finance, funded):
    login(client, finance)
    url = reverse("admin:points_account_liability")
    page = client.get(url).content.decode()
    assert "积分" in page and "200" in page and "2.00" in page  # 200 points x 0.01 CNY
    csv = client.get(url, {"format": "csv"})
    assert csv["Content-Type"].startswith("text/csv") and "积分" in csv.content.decode("utf-8-sig")
    xlsx = client.get(url, {"format": "xlsx"})
    assert xlsx.content[:2] == b"PK"


def test_store_staff_cannot_see_the_liability_or_adjust(client, store_staff, funded):
    login(client, store_staff)
    assert client.get(reverse("admin:points_account_liability")).status_code == 403
    assert client.get(reverse("admin:points_account_adjust", args=[funded.pk])).status_code == 403


def test_entry_search_by_member_number_or_source_reference(client, operator, funded, bob):
    points_earn(member=bob, point_type="points", amount=5, source="purchase", source_ref="ORDER-9",
                idempotency_key="bob-1", at=T0)  # fmt: skip
    login(client, operator)
    url = reverse("admin:points_entry_changelist")
    by_member = client.get(url, {"q": funded.member.member_number}).context["cl"].result_list
    assert {e.account.member_id for e in by_member} == {funded.member_id}
    assert [e.source_ref for e in client.get(url, {"q": "ORDER-9"}).context["cl"].result_list] == ["ORDER-9"]
    assert [e.idempotency_key for e in client.get(url, {"q": "bob-1"}).context["cl"].result_list] == ["bob-1"]


def test_the_liability_page_shows_separators_and_fen(client, finance, alice):
    points_earn(member=alice, point_type="points", amount=1_234_567, source="purchase", source_ref="BIG",
                idempotency_key=key(), at=T0)  # fmt: skip
    page = login(client, finance).get(reverse("admin:points_account_liability")).content.decode()
    # 1,234,567 points at 0.01 CNY each; nothing has left an account yet: no breakage
    for cell in ["<td>1,234,567</td>", "<td>12,345.67</td>", "<td>0.0%</td>"]:
        assert cell in page, cell
    export = client.get(reverse("admin:points_account_liability"), {"format": "csv"}).content.decode(
        "utf-8-sig"
    )
    assert "1234567,12345.67" in export  # downloads keep plain numbers for spreadsheets
