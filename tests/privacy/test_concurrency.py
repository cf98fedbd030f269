"""Erasures racing approvers and merges on PostgreSQL: approved once, and a member's data never
escapes into another member by a merge running at the same moment.

Each lock test with a ``[control...]`` beside it runs the same race with the lock off.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection

from members.models import Identity, Member
from members.oneid.models import MemberMerge
from members.oneid.services import MergeRefused, merge_approve
from members.privacy.models import ErasureRequest
from members.privacy.services import ErasureRefused, erasure_approve, erasure_reject, erasure_request
from tests.concurrency import FIRST_WRITE, LOCKED_AND_CONTROL, Last, race, unless
from tests.factories import MemberFactory
from tests.oneid.conftest import NOW

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and races need PostgreSQL"),
]


@pytest.fixture
def people() -> list[User]:
    return [User.objects.create_user(name) for name in ("asker", "approver-1", "approver-2")]


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_approvers_at_once_erase_once(locked: bool, people):
    """One approval stands, the other is told it is no longer waiting; without the lock both
    are recorded as the approval."""
    asker, *approvers = people
    request = erasure_request(member=MemberFactory(), reason="来电", actor=asker)

    with unless(locked, "members/privacy/services.py::erasure_approve#1"):
        results = race(2, lambda i: erasure_approve(request=request, actor=approvers[i]), meet=FIRST_WRITE)

    refused = [r for r in results if isinstance(r, ErasureRefused)]
    assert all(isinstance(r, ErasureRequest | ErasureRefused) for r in results), results
    assert len(refused) == (1 if locked else 0)


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_an_erasure_approved_and_rejected_at_once_is_one_or_the_other(locked: bool, people):
    asker, approver, rejecter = people
    member = MemberFactory(name="王五")
    request = erasure_request(member=member, reason="来电", actor=asker)
    decide: list[Any] = [
        lambda: erasure_approve(request=request, actor=approver),
        lambda: erasure_reject(request=request, actor=rejecter),
    ]

    with unless(locked, "members/privacy/services.py::erasure_reject"):
        race(2, lambda i: decide[i](), meet=r'^UPDATE "privacy_erasurerequest"')

    status = ErasureRequest.objects.get(pk=request.pk).status
    erased = Member.objects.get(pk=member.pk).name == ""
    assert ((status == ErasureRequest.Status.DONE) == erased) is locked, (status, erased)


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_a_merge_at_the_moment_of_erasure_carries_no_personal_data_away(locked: bool, people):
    """The member asked to be erased and is merged into another at the same moment: either the
    erasure goes first (the merge then refuses a closed member) or the merge (the erasure then
    refuses, naming the survivor to erase). Without the erasure's lock on the member, the merge
    moves the phone to the survivor while the erasure erases an empty record."""
    asker, approver, merger = people
    survivor, member = MemberFactory(), MemberFactory(mobile="13512345678")
    request = erasure_request(member=member, reason="来电", actor=asker)
    merge = MemberMerge.objects.create(
        survivor=survivor, absorbed=member, reason="同一人", approval_reasons=["test"], requested_by=asker,
        requested_at=NOW, idempotency_key="race#0",
    )  # fmt: skip
    work: list[Any] = [
        lambda: erasure_approve(request=request, actor=approver),
        lambda: merge_approve(merge=merge, actor=merger),
    ]

    with unless(locked, "members/privacy/services.py::erasure_approve#2"):
        # the erasure has read the member; the merge is about to lock both members
        meet = [Last(r'^UPDATE "members_member"'), r'"members_member"\."id" IN .* FOR UPDATE']
        results = race(2, lambda i: work[i](), meet=meet)

    assert all(
        isinstance(r, ErasureRequest | MemberMerge | ErasureRefused | MergeRefused) for r in results
    ), results
    leaked = Identity.objects.filter(value="+8613512345678").exists()
    assert leaked is not locked
