"""``field__any``: the same members as ``__in``, with the list sent as one parameter."""

import pytest
from django.db import connection

from members.models import Member
from points.models import Account, PointType
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_any_finds_what_in_finds():
    a, b, c = MemberFactory(), MemberFactory(), MemberFactory()
    wanted = [c.pk, a.pk, a.pk, 999_999_999]  # out of order, twice, and one that is nobody

    assert set(Member.objects.filter(pk__any=wanted)) == {a, c}
    assert not Member.objects.filter(pk__any=[]).exists()
    assert set(Member.objects.filter(pk__any=Member.objects.filter(pk=b.pk).values("pk"))) == {b}
    assert set(Member.objects.exclude(pk__any=wanted)) == {b}


def test_any_on_a_foreign_key_takes_ids_and_members():
    a, b = MemberFactory(), MemberFactory()
    for member in (a, b):
        Account.objects.get_or_create(member=member, point_type_id=_point_type())
    assert {x.member_id for x in Account.objects.filter(member_id__any=[a.pk])} == {a.pk}
    assert {x.member_id for x in Account.objects.filter(member__any=[b])} == {b.pk}


def test_on_postgresql_a_thousand_ids_are_one_parameter():
    if connection.vendor != "postgresql":
        pytest.skip("the array form is PostgreSQL's")
    sql, params = Member.objects.filter(pk__any=range(1, 1001)).query.sql_with_params()
    assert "= ANY(%s)" in sql and len(params) == 1 and len(params[0]) == 1000


def _point_type() -> int:
    return PointType.objects.get_or_create(code="points", defaults={"name": "积分"})[0].pk
