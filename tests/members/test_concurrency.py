"""Two tills enrolling the same person at the same moment: one member, one clear refusal. Two
refunds of one purchase at once both count; two edits of one member at once both stay.

Runs on PostgreSQL only: SQLite serialises writers, so it cannot show the race. Each lock test has
its control beside it (``[control]``): the same race with the lock off, showing the harm.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection
from django.utils import timezone

from members.models import ConsentRecord, Identity, Member
from members.purchases.errors import RefundTooLarge
from members.purchases.models import Purchase, Refund
from members.purchases.services import RefundFact, purchase_record, refund_record, refunds_record
from members.services import IdentityKey, identity_attach, member_enrol, member_set_consent, member_update
from tests.concurrency import LOCKED_AND_CONTROL, race, unless
from tests.factories import MemberFactory

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and races need PostgreSQL"),
]


def test_concurrent_enrolments_with_one_phone_make_one_member():
    results = race(8, lambda i: member_enrol(name=f"会员{i}", mobile="13912345678"))
    members = [r for r in results if isinstance(r, Member)]
    refusals = [r for r in results if isinstance(r, ValidationError)]
    assert len(members) == 1 and len(refusals) == 7, results
    assert all("mobile" in r.message_dict for r in refusals)
    assert Member.objects.count() == 1
    assert Identity.objects.filter(kind="phone").count() == 1


def test_concurrent_card_attachments_to_two_members():
    a, b = MemberFactory(), MemberFactory()
    results = race(2, lambda i: identity_attach(member=(a, b)[i], kind=Identity.Kind.CARD, value="VIP-RACE"))
    assert sum(isinstance(r, Identity) for r in results) == 1
    assert sum(isinstance(r, ValidationError) for r in results) == 1, results
    assert Identity.objects.filter(value="VIP-RACE").count() == 1


def test_concurrent_enrolments_with_one_card_and_different_phones():
    card = IdentityKey(Identity.Kind.CARD, "VIP-SAME")
    results = race(4, lambda i: member_enrol(mobile=f"1390000000{i}", identities=[card]))
    assert sum(isinstance(r, Member) for r in results) == 1
    assert all(isinstance(r, (Member, ValidationError)) for r in results), results
    assert Member.objects.count() == 1


AT = timezone.make_aware(datetime.datetime(2026, 11, 11, 20, 15))
LATER = AT + datetime.timedelta(days=2)
REFUND_LOCK = "members/purchases/services.py::refund_record"
REFUNDS_LOCK = "members/purchases/services.py::refunds_record"


def paid_1000() -> Purchase:
    purchase, _created = purchase_record(
        member=MemberFactory(), source="pos", order_number="SO-1", channel="store", occurred_at=AT,
        gross_amount=Decimal("1000.00"), paid_amount=Decimal("1000.00"), now=AT,
    )  # fmt: skip
    return purchase


def refund_of(purchase: Purchase, number: str, amount: str) -> tuple[Refund, bool]:
    return refund_record(
        purchase=purchase, source="pos", refund_number=number, amount=Decimal(amount), occurred_at=LATER,
        now=LATER,
    )  # fmt: skip


def counting(statements: list[str], work: Callable[[], Any]) -> Any:
    """Run ``work`` noting every statement its thread sends."""

    def note(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(note):
        return work()


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_refunds_of_one_purchase_at_once_both_count(locked: bool):
    """300 and 450 CNY of a 1,000 CNY purchase refunded at the same moment: 750 refunded, 250 left.

    The refunded amount is computed in Python; the write only lands over the amount it was computed
    from. The control turns the row lock off: both refunds read 0.00 before either writes (the
    race that used to lose one), and the second write, finding 300.00, is applied again on top."""
    purchase = paid_1000()
    statements: list[str] = []
    amounts = ["300.00", "450.00"]

    with unless(locked, REFUND_LOCK):
        results = race(
            2,
            lambda i: counting(statements, lambda: refund_of(purchase, f"T-{i}", amounts[i])),
            meet=r'^INSERT INTO "purchases_refund"',
        )

    assert [created for _refund, created in results] == [True, True], results
    purchase.refresh_from_db()
    assert (purchase.refunded_amount, purchase.status) == (Decimal("750.00"), Purchase.Status.PARTLY_REFUNDED)
    assert sorted(Refund.objects.values_list("amount", flat=True)) == [Decimal("300.00"), Decimal("450.00")]
    if not locked:  # the race did happen: one write found 300.00 and was applied again on top
        assert len([sql for sql in statements if sql.startswith('UPDATE "purchases_purchase"')]) == 3
    with pytest.raises(RefundTooLarge, match=r"250\.00"):
        refund_of(purchase, "T-3", "250.01")


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_the_same_refund_sent_twice_at_once_is_recorded_once(locked: bool):
    """A till retrying a refund while the first attempt is still running: one refund, both calls
    get it. Without the lock both find no refund under that number, and the second insert breaks
    on the unique key (a database error, a 500 at the API)."""
    purchase = paid_1000()

    with unless(locked, REFUND_LOCK):
        results = race(
            2, lambda i: refund_of(purchase, "T-1", "300.00"), meet=r'^INSERT INTO "purchases_refund"'
        )

    if locked:
        assert sorted(created for _refund, created in results) == [False, True], results
        assert results[0][0].pk == results[1][0].pk
    else:
        assert sum(isinstance(r, IntegrityError) for r in results) == 1, results
    purchase.refresh_from_db()
    assert (Refund.objects.count(), purchase.refunded_amount) == (1, Decimal("300.00"))


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_an_imported_refund_and_an_api_refund_of_one_purchase_at_once_both_count(locked: bool):
    """An import recording its returns (``refunds_record``, amounts computed in Python for a chunk)
    while the API records another refund of the same purchase: both count. Without the import's
    lock its write lands over the API's refund, which is lost."""
    purchase = paid_1000()

    def work(i: int) -> Any:
        if i == 0:
            fact = RefundFact(purchase, "import", "T-1", Decimal("300.00"), LATER)
            return refunds_record([fact], now=LATER)
        return refund_of(purchase, "T-2", "450.00")

    with unless(locked, REFUNDS_LOCK):
        results = race(2, work, meet=r'^INSERT INTO "purchases_refund"')

    assert not [r for r in results if isinstance(r, Exception)], results
    purchase.refresh_from_db()
    assert Refund.objects.count() == 2
    assert purchase.refunded_amount == (Decimal("750.00") if locked else Decimal("300.00"))


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_profile_edits_of_one_member_at_once_both_stay(locked: bool):
    """An operator fixes the name while the app changes the email: both changes stay. Without the
    lock each saves the whole member it read, and the later save puts the old name back."""
    member = MemberFactory(name="张伟", email="old@example.com")
    changes: list[dict[str, str]] = [{"name": "张伟伟"}, {"email": "new@example.com"}]

    with unless(locked, "members/services.py::member_update"):
        results = race(
            2, lambda i: member_update(member=member, **changes[i]), meet=r'^UPDATE "members_member"'
        )

    assert all(isinstance(r, Member) for r in results), results
    member.refresh_from_db()
    kept = (member.name, member.email)
    if locked:
        assert kept == ("张伟伟", "new@example.com")
    else:
        assert kept in {("张伟", "new@example.com"), ("张伟伟", "old@example.com")}


@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_one_consent_given_twice_at_once_is_recorded_once(locked: bool):
    """The app and the till both record the member's SMS opt-in at the same moment: one consent
    record (the second sees it given). Without the lock both see it not given and both record it."""
    member = MemberFactory()
    assert not member.sms_consent

    with unless(locked, "members/services.py::member_set_consent"):
        results = race(
            2,
            lambda i: member_set_consent(member=member, channel="sms", granted=True, source=f"till-{i}"),
            meet=r'^UPDATE "members_member"',
        )

    assert not [r for r in results if isinstance(r, Exception)], results
    assert ConsentRecord.objects.filter(member=member).count() == (1 if locked else 2)
    member.refresh_from_db()
    assert member.sms_consent
