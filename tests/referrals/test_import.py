"""A member list with a referral code column: good codes link, a refused code rejects its row only."""

from __future__ import annotations

import pytest

from members.imports.models import ImportRow
from members.imports.reasons import errors_text
from members.models import Member
from members.referrals.models import Referral
from members.referrals.services import referral_code_get
from tests.factories import MemberFactory
from tests.imports.conftest import run_file

pytestmark = pytest.mark.django_db


def test_rows_with_good_codes_are_linked_and_a_refused_code_rejects_its_row(operator):
    referrer = MemberFactory(name="老会员", mobile="13700000001", card="OLD-CARD-9")
    code = referral_code_get(referrer)
    text = (
        "姓名,手机号,会员卡号,推荐码\n"
        f"新朋友甲,13700000002,,{code.lower()}\n"  # typed in lower case: still the code
        "新朋友乙,13700000003,,ZZZZ2222\n"  # nobody's code
        f"新朋友丙,13700000004,OLD-CARD-9X,{code}\n"
        f"自己,13700000005,13700000001,{code}\n"  # the referrer's phone as a card number
        "没有推荐,13700000006,,\n"
    )
    run = run_file("members", text.encode("utf-8"), name="referrals.csv", user=operator)
    rejected = {
        row.number: errors_text(row.errors) for row in run.rows.filter(state=ImportRow.State.REJECTED)
    }
    assert set(rejected) == {3, 5}  # file lines: the header is line 1
    assert "Referral code" in rejected[3] and "No member has this referral code" in rejected[3]
    assert "own" in rejected[5]
    assert run.members_created == 3
    assert sorted(Referral.objects.values_list("referee__name", flat=True)) == ["新朋友丙", "新朋友甲"]
    assert set(Referral.objects.values_list("referrer_id", flat=True)) == {referrer.pk}
    assert not Member.objects.filter(name__in=["新朋友乙", "自己"]).exists()
    assert Referral.objects.get(referee__name="新朋友甲").source == f"import #{run.pk}"


def test_a_referrer_closed_after_the_check_fails_the_chunk_then_only_its_row(operator, monkeypatch):
    referrer = MemberFactory(mobile="13700000011")
    code = referral_code_get(referrer)
    Member.objects.filter(pk=referrer.pk).update(status=Member.Status.CLOSED)
    # the check before enrolment passes once: as if the referrer closed right after it
    import members.referrals.services as services

    real, calls = services.referral_check, []

    def stale_first_check(*args, **kwargs):
        calls.append(kwargs.get("referee"))
        return referrer if len(calls) == 1 else real(*args, **kwargs)

    monkeypatch.setattr(services, "referral_check", stale_first_check)
    text = f"姓名,手机号,推荐码\n甲,13700000012,{code}\n乙,13700000013,\n"
    run = run_file("members", text.encode("utf-8"), name="closing.csv", user=operator)
    rejected = {
        row.number: errors_text(row.errors) for row in run.rows.filter(state=ImportRow.State.REJECTED)
    }
    assert list(rejected) == [2] and "closed" in rejected[2]
    assert calls[1] is not None  # the link after the enrolment refused: the chunk was redone
    assert list(Member.objects.exclude(pk=referrer.pk).values_list("name", flat=True)) == ["乙"]
    assert not Referral.objects.exists()
