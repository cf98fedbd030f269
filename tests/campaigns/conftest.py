from __future__ import annotations

import datetime
import itertools
from decimal import Decimal

import pytest

from campaigns.models import Campaign
from members.models import Channel
from members.purchases.services import Line, purchase_record, refund_record
from tests.benefits.conftest import free_shipping, twenty_off  # noqa: F401  (fixtures shared)
from tests.tiers.conftest import ladder, local, set_policy  # noqa: F401  (fixtures shared)

_numbers = itertools.count(1)
NOW = local(2026, 11, 11, 20, 0)


@pytest.fixture
def en(client):
    """Pages in English, so assertions do not depend on the zh-hans catalogue."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def author(make_user):
    from config.common.roles import Role

    return make_user(Role.OPERATOR, username="author")


def campaign(**fields) -> Campaign:
    """A live campaign (approved by someone, active), all of 2026 unless told otherwise."""
    m2m = {name: fields.pop(name) for name in ("stores", "tiers", "tags") if name in fields}
    values = {
        "code": f"c{next(_numbers)}",
        "name": "双11双倍积分",
        "status": Campaign.Status.ACTIVE,
        "starts_at": local(2026, 1, 1),
        "ends_at": local(2027, 1, 1),
        **fields,
    }
    created = Campaign.objects.create(**values)
    for name, objects in m2m.items():
        getattr(created, name).set(objects)
    return created


def buy(member, paid, *, at=NOW, store=None, channel=Channel.STORE, gross=None, lines=(), **amounts):
    purchase, _created = purchase_record(
        member=member,
        source="pos",
        order_number=f"R{next(_numbers):06d}",
        channel=channel,
        store=store,
        occurred_at=at,
        gross_amount=Decimal(gross or paid),
        paid_amount=Decimal(paid),
        lines=[Line(sku=sku, amount=Decimal(amount), category=category) for sku, category, amount in lines],
        now=at + datetime.timedelta(minutes=1),
        **{k: Decimal(v) for k, v in amounts.items()},
    )
    return purchase


def refund(purchase, amount, *, at=None):
    at = at or purchase.occurred_at + datetime.timedelta(days=1)
    created, _ = refund_record(
        purchase=purchase,
        source="pos",
        refund_number=f"T{next(_numbers):06d}",
        amount=Decimal(amount),
        occurred_at=at,
        now=at,
    )
    return created
