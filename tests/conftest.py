"""Shared fixtures: one user per role, the way the product's groups grant them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.utils import translation

from config.common.roles import Role
from tests.factories import MemberFactory, StoreFactory


@pytest.fixture(autouse=True)
def english_messages():
    """Service-level assertions read in English; admin pages follow the request (zh-hans)."""
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def fresh_rule_book(settings):
    """Tests change rules and campaigns between requests: the API reloads them every time."""
    settings.RULE_BOOK_CACHE_SECONDS = 0


@pytest.fixture(autouse=True)
def copy_every_batch(monkeypatch):
    """``config.common.bulk`` sends batches of 8 rows or more by COPY on PostgreSQL; tests' batches
    are small, so they take that path from 2 rows on (a single row is what a plain INSERT
    does best). Every ledger and pipeline test then checks the COPY path's rows on PostgreSQL."""
    monkeypatch.setattr("config.common.bulk.SMALL", 2)


@pytest.fixture
def make_user(db):
    def make(role: Role | None = None, username: str | None = None, **extra) -> User:
        name = username or (role.name.lower() if role else "nobody")
        user = User.objects.create_user(username=name, password="pw-for-tests-2026", is_staff=True, **extra)
        if role is not None:
            user.groups.add(Group.objects.get(name=role.value))
        return user

    return make


@pytest.fixture
def operator(make_user) -> User:
    return make_user(Role.OPERATOR)


@pytest.fixture
def store_staff(make_user) -> User:
    return make_user(Role.STORE_STAFF)


@pytest.fixture
def finance(make_user) -> User:
    return make_user(Role.FINANCE)


@pytest.fixture
def approver(make_user) -> User:
    return make_user(Role.APPROVER)


@pytest.fixture
def administrator(make_user) -> User:
    return make_user(Role.ADMINISTRATOR)


@pytest.fixture
def store(db):
    return StoreFactory(code="S0000", name="上海徐汇店", city="上海")


@pytest.fixture
def member(db):
    return MemberFactory(name="张伟", mobile="13812345678", card="VIP00000001")


def login(client, user: User):
    client.force_login(user)
    return client


@pytest.fixture
def migration_rows(request, django_db_serialized_rollback, transactional_db) -> None:
    """Rows the data migrations write (point types, the entry tier, default earning rules and
    review limits, the jobs' schedules): the flush of transactional tests removes them; Django's
    serialized rollback puts them back before each test that asks for this.

    pytest-django serializes the database at set-up only for tests whose ``django_db`` mark says
    so (a fixture alone is not seen when there is a mark), hence the check."""
    mark = request.node.get_closest_marker("django_db")
    if mark is not None and not mark.kwargs.get("serialized_rollback"):
        pytest.fail("migration_rows needs @pytest.mark.django_db(transaction=True, serialized_rollback=True)")
