"""OneID as operators and approvers use it: from a duplicate pair to a merge, approval when asked."""

from __future__ import annotations

import pytest
from django.urls import reverse

from members.imports.models import ImportRow
from members.imports.views import merge_url
from members.models import Member
from members.oneid.models import DuplicateCandidate, MemberMerge
from points.models import Source
from points.services import points_earn
from tests.conftest import login
from tests.factories import MemberFactory
from tests.oneid.conftest import NOW

pytestmark = pytest.mark.django_db
ADD = reverse("admin:oneid_membermerge_add")
MERGES = reverse("admin:oneid_membermerge_changelist")
PAIRS = reverse("admin:oneid_duplicatecandidate_changelist")


@pytest.fixture
def en(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def twins(db):
    return MemberFactory(name="张丽", card="0012"), MemberFactory(name="张丽", card="12")


def test_from_a_duplicate_pair_to_a_merge(en, operator, twins):
    first, second = twins
    DuplicateCandidate.objects.create(
        first=first, second=second, found_at=NOW, reasons=[{"code": "card_form", "value": "12"}]
    )
    login(en, operator)
    pairs = en.get(PAIRS).content.decode()
    assert "Same card number in another format: 12" in pairs
    link = f"{ADD}?survivor={first.member_number}&amp;absorbed={second.member_number}"
    assert link in pairs

    page = en.get(f"{ADD}?survivor={first.member_number}&absorbed={second.member_number}")
    assert page.status_code == 200
    assert "Merged at once" in page.content.decode()  # nothing above the thresholds
    response = en.post(
        ADD,
        {
            "survivor_number": first.member_number,
            "absorbed_numbers": second.member_number,
            "reason": "客服核实",
        },
    )
    assert response.status_code == 302
    record = MemberMerge.objects.get()
    assert (record.status, record.requested_by) == (MemberMerge.Status.DONE, operator)
    assert Member.objects.get(pk=second.pk).merged_into == first
    assert DuplicateCandidate.objects.get().status == DuplicateCandidate.Status.MERGED
    detail = en.get(reverse("admin:oneid_membermerge_change", args=[record.pk])).content.decode()
    assert "Identities" in detail  # what moved, in words


def test_a_merge_the_policy_holds_waits_for_an_approver(en, operator, approver, twins):
    first, second = twins
    points_earn(
        member=second, point_type="points", amount=5000, source=Source.OPERATOR, source_ref="x",
        idempotency_key="big", at=NOW, available_at=NOW,
    )  # fmt: skip
    login(en, operator)
    response = en.post(
        ADD,
        {
            "survivor_number": first.member_number,
            "absorbed_numbers": second.member_number,
            "reason": "同一人",
        },
    )
    assert response.status_code == 302
    record = MemberMerge.objects.get()
    assert record.status == MemberMerge.Status.PENDING
    assert en.get(MERGES).context["action_form"] is None  # operators may not approve or reject

    login(en, approver)
    en.post(MERGES, {"action": "approve", "_selected_action": [record.pk]})
    record.refresh_from_db()
    assert (record.status, record.decided_by) == (MemberMerge.Status.DONE, approver)


def test_a_wrong_number_is_named_on_the_form(en, operator, twins):
    login(en, operator)
    response = en.post(
        ADD, {"survivor_number": "800000000000", "absorbed_numbers": twins[1].member_number, "reason": "x"}
    )
    assert response.status_code == 200
    assert "No member has number 800000000000." in response.content.decode()
    assert not MemberMerge.objects.exists()


def test_an_import_row_naming_two_members_links_to_their_merge(operator, store_staff, twins):
    first, second = twins
    row = ImportRow(
        errors={
            "member": [
                {
                    "code": "two_members",
                    "params": {
                        "owners": [
                            ["card", "0012", first.member_number],
                            ["mobile", "x", second.member_number],
                        ]
                    },
                }
            ]
        }
    )
    assert merge_url(row, operator) == f"{ADD}?survivor={first.member_number}&absorbed={second.member_number}"
    assert merge_url(row, store_staff) == ""  # may not ask for merges
