"""Two partners with every grant, each with its own store and key, and clients for them: A is the
brand's own POS (first-party), B a mall's POS (third-party, the default for a new partner)."""

from __future__ import annotations

import json
import uuid

import pytest
from rest_framework.test import APIClient

from members.models import Channel
from members.partners.models import Grant, PartnerKind
from members.partners.services import key_create, partner_create
from tests.factories import StoreFactory


class PartnerClient(APIClient):
    """An API client sending a partner's key; ``post`` adds a fresh Idempotency-Key unless given."""

    def __init__(self, key: str, partner, **kwargs) -> None:
        super().__init__(**kwargs)
        self.partner = partner
        self.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        self.defaults.setdefault("HTTP_ACCEPT_LANGUAGE", "en")  # messages follow the request

    def post(self, path, data=None, idempotency_key: str | None = "new", **extra):
        if idempotency_key == "new":
            idempotency_key = str(uuid.uuid4())
        if idempotency_key is not None:
            extra["HTTP_IDEMPOTENCY_KEY"] = idempotency_key
        return super().post(
            path, json.dumps(data) if data is not None else None, content_type="application/json", **extra
        )

    def patch(self, path, data=None, **extra):
        return super().patch(path, json.dumps(data), content_type="application/json", **extra)


def make_partner(
    code: str,
    store_code: str,
    grants=None,
    channels=(Channel.STORE, Channel.WECHAT_MINIPROGRAM),
    kind=PartnerKind.THIRD_PARTY,
):
    store = StoreFactory(code=store_code, name=f"{code} store")
    partner = partner_create(
        code=code, name=f"Partner {code}", grants=grants if grants is not None else Grant.values,
        channels=channels, stores=[store], rate_per_minute=10_000, kind=kind,
    )  # fmt: skip
    _key, text = key_create(partner=partner, name="test")
    return partner, text


@pytest.fixture
def partner_a(db):
    partner, key = make_partner("pos-a", "A001", kind=PartnerKind.FIRST_PARTY)
    return PartnerClient(key, partner)


@pytest.fixture
def partner_b(db):
    partner, key = make_partner("shop-b", "B001")
    return PartnerClient(key, partner)
