"""The members admin as each role sees it: masking, counter lookup, writes via services."""

from __future__ import annotations

import pytest
from django.urls import reverse

from members.models import ConsentRecord, Member
from members.services import member_update
from tests.conftest import login
from tests.factories import MemberFactory, StoreFactory, TagFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:members_member_changelist")
ADD = reverse("admin:members_member_add")


def change_url(member: Member) -> str:
    return reverse("admin:members_member_change", args=[member.pk])


def test_operator_sees_full_personal_data(client, operator, member):
    page = login(client, operator).get(CHANGELIST).content.decode()
    assert "+86 138 1234 5678" in page and "张伟" in page
    detail = client.get(change_url(member)).content.decode()
    assert "+86 138 1234 5678" in detail
    assert reverse("admin:members_member_history", args=[member.pk]) in detail


@pytest.mark.parametrize("role", ["finance", "approver"])
def test_finance_and_approver_see_masked_data(client, request, role, member):
    user = request.getfixturevalue(role)
    page = login(client, user).get(CHANGELIST).content.decode()
    assert "138****5678" in page and "张*" in page
    assert "12345678" not in page and "张伟" not in page
    detail = client.get(change_url(member)).content.decode()
    assert "138****5678" in detail
    assert "12345678" not in detail and "1234 5678" not in detail and "张伟" not in detail
    history = reverse("admin:members_member_history", args=[member.pk])
    assert history not in detail
    assert client.get(history).status_code == 403


def test_store_staff_cannot_list_members_but_can_look_one_up(client, store_staff, member):
    MemberFactory(name="李娜", mobile="15900000003")
    login(client, store_staff)
    empty = client.get(CHANGELIST)
    assert empty.status_code == 200
    assert empty.context["cl"].result_count == 0
    assert "李娜" not in empty.content.decode()
    # a partial phone or a name finds nobody: no fishing through the member base
    for partial in ["138", "张", "1381234"]:
        assert client.get(CHANGELIST, {"q": partial}).context["cl"].result_count == 0
    for exact in ["13812345678", "+86 138 1234 5678", "vip00000001", member.member_number]:
        found = client.get(CHANGELIST, {"q": exact})
        assert list(found.context["cl"].result_list) == [member], exact
        assert "138****5678" in found.content.decode()


def test_store_staff_has_no_export_import_or_edit(client, store_staff, member):
    login(client, store_staff)
    assert client.get(reverse("admin:members_member_export")).status_code == 403
    response = client.post(change_url(member), {"name": "篡改"})
    assert response.status_code == 403
    member.refresh_from_db()
    assert member.name == "张伟"


def test_store_staff_enrols_a_member_at_the_counter(client, store_staff, store):
    store.staff.add(store_staff)
    login(client, store_staff)
    other = StoreFactory(code="S0099", name="别人的店")
    refused = client.post(ADD, add_form(name="新会员", mobile="139 0000 1111", store=other))
    assert "registration_store" in refused.context["adminform"].form.errors  # not one of theirs
    response = client.post(ADD, add_form(name="新会员", mobile="139 0000 1111", store=store))
    assert response.status_code == 302, response.context["adminform"].form.errors
    member = Member.objects.get(mobile="+8613900001111")
    assert member.identities.filter(kind="phone", value="+8613900001111").exists()
    assert member.history.first().history_user == store_staff


def add_form(*, name, mobile, store=None, **extra):
    data = {
        "name": name, "mobile": mobile, "email": "", "gender": "unknown", "birthday": "",
        "province": "", "city": "", "registration_channel": "store",
        "registration_store": store.pk if store else "", "status": "active",
        "identities-TOTAL_FORMS": "0", "identities-INITIAL_FORMS": "0",
        "consent_records-TOTAL_FORMS": "0", "consent_records-INITIAL_FORMS": "0",
        # the balances inline the points app adds to the member page (read-only)
        "point_accounts-TOTAL_FORMS": "0", "point_accounts-INITIAL_FORMS": "0",
    }  # fmt: skip
    data.update(extra)
    return data


def test_admin_refuses_a_phone_that_belongs_to_someone_else(client, operator, member):
    login(client, operator)
    response = client.post(ADD, add_form(name="陈静", mobile="+86 138 1234 5678"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert member.member_number in str(errors["mobile"])
    assert Member.objects.count() == 1


def test_operator_edit_goes_through_services_with_consent_trail(client, operator, member):
    login(client, operator)
    tag = TagFactory(name="VIP 客户")
    identity_forms = {
        "identities-TOTAL_FORMS": "1", "identities-INITIAL_FORMS": "0",
        "identities-0-kind": "unionid", "identities-0-namespace": "", "identities-0-value": "oUnion_zw",
    }  # fmt: skip
    data = add_form(
        name="张伟", mobile="13812345678", city="苏州", sms_consent="on", tags=[tag.pk], **identity_forms
    )
    response = client.post(change_url(member), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    member.refresh_from_db()
    assert member.city == "苏州" and member.sms_consent
    assert list(member.tags.all()) == [tag]
    assert member.identities.filter(kind="unionid", value="oUnion_zw").exists()
    record = ConsentRecord.objects.get(member=member)
    assert (record.channel, record.granted, record.actor) == ("sms", True, operator)
    assert member.history.first().history_user == operator


def test_members_cannot_be_deleted_from_the_admin(client, administrator, member):
    login(client, administrator)
    assert client.get(reverse("admin:members_member_delete", args=[member.pk])).status_code == 403


def test_operator_search_by_phone_card_number_and_name(client, operator, member):
    other = MemberFactory(name="王芳")
    login(client, operator)
    for term, expected in [
        ("138 1234 5678", [member]), ("VIP00000001", [member]), (member.member_number, [member]),
        ("张", [member]), ("王芳", [other]),
    ]:  # fmt: skip
        assert list(client.get(CHANGELIST, {"q": term}).context["cl"].result_list) == expected, term


def test_member_list_query_count_does_not_grow_with_rows(client, operator, django_assert_num_queries):
    stores = [StoreFactory() for _ in range(3)]
    for i in range(30):
        member = MemberFactory(registration_store=stores[i % 3])
        member_update(member=member, city="上海")
    login(client, operator)
    client.get(CHANGELIST)  # warm the session and content-type caches
    # session, user, groups/permissions, count, page (+select_related store), filters' stores and tags
    with django_assert_num_queries(9):
        response = client.get(CHANGELIST, {"status__exact": "active"})
    assert len(response.context["cl"].result_list) == 30


def test_editor_without_pii_permission_cannot_see_or_wipe_personal_data(client, make_user, member):
    from django.contrib.auth.models import Permission

    editor = make_user(username="editor")
    editor.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_member", "change_member", "browse_member"])
    )
    login(client, editor)
    page = client.get(change_url(member)).content.decode()
    assert "138****5678" in page and "1234 5678" not in page
    data = add_form(name="ignored", mobile="13900000000", city="南京")
    assert client.post(change_url(member), data).status_code == 302
    member.refresh_from_db()
    assert member.city == "南京"
    assert member.name == "张伟" and member.mobile.as_e164 == "+8613812345678"


def test_primary_phone_cannot_be_deleted_in_the_inline(client, operator, member):
    login(client, operator)
    phone = member.identities.get(is_primary_phone=True)
    card = member.identities.get(kind="card")
    rows = {
        "identities-TOTAL_FORMS": "2", "identities-INITIAL_FORMS": "2",
        "identities-0-id": phone.pk, "identities-0-member": member.pk, "identities-0-DELETE": "on",
        "identities-1-id": card.pk, "identities-1-member": member.pk,
    }  # fmt: skip
    data = add_form(name="张伟", mobile="13812345678", **rows)
    response = client.post(change_url(member), data)
    assert response.status_code == 200
    assert "主手机号" in str(response.context["inline_admin_formsets"][0].formset.non_form_errors())
    assert member.identities.filter(pk=phone.pk).exists()

    del rows["identities-0-DELETE"]  # an unticked box is not posted at all
    rows["identities-1-DELETE"] = "on"
    response = client.post(change_url(member), add_form(name="张伟", mobile="13812345678", **rows))
    assert response.status_code == 302, (
        response.context["adminform"].form.errors,
        [(f.formset.errors, f.formset.non_form_errors()) for f in response.context["inline_admin_formsets"]],
    )
    assert not member.identities.filter(kind="card").exists()
