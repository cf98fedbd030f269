"""factory-boy factories. Members are made through ``member_enrol``, as production makes them."""

from __future__ import annotations

import factory

from members.models import Identity, Store, Tag
from members.services import IdentityKey, member_enrol


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"S{n:04d}")
    name = factory.Sequence(lambda n: f"测试{n}店")
    city = "上海"


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"标签{n}")


_phone_counter = iter(range(10_000_000))


def next_mobile() -> str:
    return f"139{next(_phone_counter):08d}"


class MemberFactory:
    """``MemberFactory(name=..., mobile=..., card=..., unionid=..., **member_enrol kwargs)``."""

    def __new__(
        cls, *, card: str | None = None, unionid: str | None = None, mobile: str | None = "auto", **kw
    ):
        identities = list(kw.pop("identities", []))
        if card:
            identities.append(IdentityKey(Identity.Kind.CARD, card))
        if unionid:
            identities.append(IdentityKey(Identity.Kind.WECHAT_UNIONID, unionid))
        kw.setdefault("name", "测试会员")
        return member_enrol(mobile=next_mobile() if mobile == "auto" else mobile, identities=identities, **kw)
