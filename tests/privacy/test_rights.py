"""A member's copy of their data, the retention job, and the log of who saw personal data."""

from __future__ import annotations

import datetime
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from members.imports.models import ImportProfile, ImportRow, ImportRun
from members.imports.services import import_preview
from members.partners.models import IdempotentRequest
from members.privacy.models import AccessLog, PrivacySettings
from members.privacy.services import personal_data_purge
from members.services import member_set_consent
from tests.benefits.conftest import give_points
from tests.conftest import login
from tests.factories import MemberFactory, StoreFactory
from tests.oneid.conftest import buy
from tests.walk_data import _pos_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def zhang(db):
    return MemberFactory(name="张三", mobile="13912349876", card="C-778", email="zhang@example.com")


def test_the_member_page_downloads_everything_held_about_the_member_and_logs_it(client, operator, zhang):
    member_set_consent(member=zhang, channel="sms", granted=True)
    buy(zhang, "88.00")
    give_points(zhang, 300)
    login(client, operator)

    response = client.get(reverse("admin:members_member_personal_data", args=[zhang.pk]))

    assert response["Content-Disposition"] == f'attachment; filename="member-{zhang.member_number}.json"'
    data = json.loads(response.content)
    sections = data["sections"]
    assert sections["profile"][0]["name"] == "张三" and sections["profile"][0]["mobile"] == "+8613912349876"
    assert {(i["kind"], i["value"]) for i in sections["identities"]} == {
        ("phone", "+8613912349876"),
        ("card", "C-778"),
    }
    assert [(c["channel"], c["granted"]) for c in sections["consents"]] == [("sms", True)]
    assert [p["paid_amount"] for p in sections["purchases"]] == ["88.00"]
    assert sorted(e["amount"] for e in sections["points_entries"]) == [88, 88, 300]
    assert {"history", "messages", "partner_links", "coupons", "redemptions", "tier"} <= sections.keys()
    log = AccessLog.objects.get(what=AccessLog.What.PERSONAL_DATA)
    assert (log.user, log.member) == (operator, zhang)


def test_roles_without_the_right_cannot_download(client, store_staff, finance, zhang):
    for user in (store_staff, finance):
        login(client, user)
        response = client.get(reverse("admin:members_member_personal_data", args=[zhang.pk]))
        assert response.status_code in (403, 302), user
    assert not AccessLog.objects.exists()


def test_opening_a_member_unmasked_is_logged_and_masked_is_not(client, operator, store_staff, zhang):
    url = reverse("admin:members_member_change", args=[zhang.pk])
    login(client, operator)
    assert client.get(url).status_code == 200
    assert AccessLog.objects.filter(user=operator, member=zhang, what=AccessLog.What.MEMBER_PAGE).count() == 1

    zhang.registration_store = StoreFactory()
    zhang.save()
    zhang.registration_store.staff.add(store_staff)
    login(client, store_staff)  # sees the member masked: nothing to log
    assert client.get(url).status_code == 200
    assert not AccessLog.objects.filter(user=store_staff).exists()


def test_the_retention_job_deletes_old_staged_rows_and_stored_answers(operator, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    store = StoreFactory(code="R001", name="门店")
    when = f"{timezone.localtime() - datetime.timedelta(days=1):%Y-%m-%d %H:%M:%S}"
    run = import_preview(
        profile=ImportProfile.objects.get(code="pos_receipts_gbk"),
        data=_pos_file([f"R001,门店,R-1,,13912340001,销售,10.00,10.00,{when},,C01"]),
        file_name="pos.csv",
        user=operator,
        store=store,
    )
    ImportRun.objects.filter(pk=run.pk).update(status=ImportRun.Status.DONE)
    policy = PrivacySettings.current()
    policy.import_rows_days = 30
    policy.save()
    now = timezone.now()

    assert personal_data_purge(now=now + datetime.timedelta(days=29))["import_rows"] == 0
    done = personal_data_purge(now=now + datetime.timedelta(days=31))

    assert (done["import_rows"], done["import_files"]) == (1, 1)
    assert ImportRow.objects.get(run=run).values == {}
    run.refresh_from_db()
    assert not run.file and run.rows_total == 1  # the counts stay
    assert IdempotentRequest.objects.count() == 0
