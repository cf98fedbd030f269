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


def approve_changes(approver: User | None = None) -> list:
    """Approve every programme change waiting (made in the admin by the test's operator), as a
    second person: what a test of the setting itself needs once maker-checker is past."""
    from config.common.governance import config_change_approve
    from config.common.models import ConfigChange

    if approver is None:
        approver = User.objects.filter(username="second-approver").first() or User.objects.create_user(
            username="second-approver", is_staff=True
        )
        approver.groups.add(Group.objects.get(name=Role.APPROVER.value))
        approver = User.objects.get(pk=approver.pk)  # permissions read afresh
    waiting = ConfigChange.objects.filter(status=ConfigChange.Status.SUBMITTED).order_by("pk")
    return [config_change_approve(change=change, actor=approver) for change in waiting]
