"""A ¥1,000,000 row in a POS export: the preview marks it, the job holds its points, an approver
releases (exactly what was held) or rejects (nothing) it from the queue in the admin."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns.models import AwardReview
from members.imports.models import ImportRow
from points.models import Account, Entry
from points.selectors import ledger_problems
from tests.conftest import login
from tests.factories import StoreFactory
from tests.imports.conftest import preview, run_file

pytestmark = pytest.mark.django_db

HEADER = "门店编码,门店名称,小票号,会员卡号,手机号,交易类型,应收金额,实收金额,交易时间,原小票号,收银员\r\n"
FILE = (
    HEADER
    + "S0001,北京1店,S0001-1,VIP00000001,,销售,128.00,128.00,2026-11-01 10:00:00,,C01\r\n"
    + 'S0001,北京1店,S0001-2,VIP00000002,,销售,"1,000,000.00","1,000,000.00",2026-11-01 11:00:00,,C01\r\n'
).encode("gbk")
QUEUE = reverse("admin:campaigns_awardreview_changelist")


@pytest.fixture
def imported(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    StoreFactory(code="S0001", name="北京1店")
    return run_file("pos_receipts_gbk", FILE)


def account(card: str, code: str = "points") -> Account | None:
    return Account.objects.filter(member__identities__value=card, point_type__code=code).first()


def balance(card: str, code: str = "points") -> int:
    found = account(card, code)
    return found.available + found.pending if found else 0


@pytest.fixture
def en(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def test_the_preview_marks_the_row_and_the_job_holds_its_points(imported):
    assert imported.rows_review == 1
    row = ImportRow.objects.get(run=imported, number=3)
    assert row.review_message == (
        "Needs review: 1,000,000 积分 is above the review limit of 20,000; "
        "1,000,000 成长值 is above the review limit of 20,000; its points wait for an approver."
    )
    assert not ImportRow.objects.get(run=imported, number=2).review
    assert imported.purchases_created == 2
    assert imported.points_awarded == {"points": 128, "growth": 128}  # what was posted
    review = AwardReview.objects.get()
    assert review.points == {"points": 1_000_000, "growth": 1_000_000}
    assert account("VIP00000002") is None  # not a point of it posted, no tier
    assert balance("VIP00000001") == 128


@pytest.mark.parametrize("confirmed", [False, True])
def test_the_preview_and_result_pages_list_the_row(en, operator, settings, tmp_path, confirmed):
    settings.MEDIA_ROOT = tmp_path
    StoreFactory(code="S0001", name="北京1店")
    run = run_file("pos_receipts_gbk", FILE) if confirmed else preview("pos_receipts_gbk", FILE)
    client = login(en, operator)
    page = client.get(reverse("admin:imports_importrun_change", args=[run.pk])).content.decode()
    assert '<td class="count-review">1</td>' in page
    assert "<td>3</td><td>Needs review: 1,000,000 积分 is above the review limit of 20,000" in page


def test_an_approver_releases_it_from_the_queue(en, approver, imported):
    client = login(en, approver)
    page = client.get(QUEUE).content.decode()
    assert "S0001-2" in page and "积分 1,000,000" in page and "Waiting for review" in page
    review = AwardReview.objects.get()
    client.post(QUEUE, {"action": "release", "_selected_action": [review.pk]})
    review.refresh_from_db()
    assert review.status == AwardReview.Status.RELEASED and review.decided_by == approver
    assert balance("VIP00000002") == balance("VIP00000002", "growth") == 1_000_000  # exactly what was held
    assert not ledger_problems()


def test_an_approver_rejects_it_and_nothing_is_posted(en, approver, imported):
    client = login(en, approver)
    review = AwardReview.objects.get()
    client.post(QUEUE, {"action": "reject", "_selected_action": [review.pk]})
    review.refresh_from_db()
    assert review.status == AwardReview.Status.REJECTED
    assert account("VIP00000002") is None
    assert Entry.objects.filter(account__member__identities__value="VIP00000002").count() == 0


def test_operators_see_the_queue_but_cannot_decide(en, operator, imported):
    client = login(en, operator)
    page = client.get(QUEUE).content.decode()
    assert "S0001-2" in page and 'value="release"' not in page
    client.post(QUEUE, {"action": "release", "_selected_action": [AwardReview.objects.get().pk]})
    assert AwardReview.objects.get().status == AwardReview.Status.HELD


def test_store_staff_cannot_open_the_queue(client, store_staff, imported):
    login(client, store_staff)
    assert client.get(QUEUE).status_code == 403
