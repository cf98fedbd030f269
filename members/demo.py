"""Demo data for ``manage.py seed_demo``: stores, tags, one login per role, members in bulk.

Members are written with ``bulk_create`` rather than ``member_enrol``: a million enrolments
one by one take hours, in batches minutes. The bulk path writes exactly the rows
``member_enrol`` would (member, primary PHONE identity, other identities, consent records,
tags) minus django-simple-history rows, which bulk_create does not make; seed data has no
author to record anyway. Values that must be unique are checked against the database when
it already holds members, so a second run adds members instead of failing.
"""

from __future__ import annotations

import datetime
import math
import random
import string
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from faker.providers.person.zh_CN import Provider as ZhNames

from members.models import Channel, ConsentChannel, ConsentRecord, Gender, Identity, Member, Store, Tag
from members.roles import Role
from members.services import MEMBER_NUMBER_PREFIX, MEMBER_NUMBER_RANDOM_DIGITS, luhn_check_digit

# Demo logins only: known passwords, which is why seed_demo refuses to run with DEBUG off.
DEMO_PASSWORD = "demo-2026"
DEMO_USERS: list[tuple[str, Role]] = [
    ("admin", Role.ADMINISTRATOR),
    ("operator", Role.OPERATOR),
    ("store", Role.STORE_STAFF),
    ("finance", Role.FINANCE),
    ("approver", Role.APPROVER),
]
STORE_USER_STORES = ["S0000", "S0001"]

PROVINCES = {"上海": "上海市", "北京": "北京市", "广州": "广东省", "深圳": "广东省", "杭州": "浙江省",
             "成都": "四川省", "南京": "江苏省", "武汉": "湖北省", "苏州": "江苏省", "重庆": "重庆市",
             "西安": "陕西省", "天津": "天津市", "长沙": "湖南省", "郑州": "河南省"}  # fmt: skip
# (code, name, city, kind, weight among store registrations); the online store has no city.
STORES = [
    ("S0000", "上海徐汇店", "上海", Store.Kind.OWN, 14), ("S0001", "上海静安店", "上海", Store.Kind.OWN, 12),
    ("S0002", "上海浦东店", "上海", Store.Kind.OWN, 10), ("S0003", "北京朝阳店", "北京", Store.Kind.OWN, 12),
    ("S0004", "北京海淀店", "北京", Store.Kind.OWN, 9), ("S0005", "广州天河店", "广州", Store.Kind.OWN, 9),
    ("S0006", "深圳南山店", "深圳", Store.Kind.OWN, 9), ("S0007", "杭州西湖店", "杭州", Store.Kind.OWN, 8),
    ("S0008", "成都春熙路店", "成都", Store.Kind.FRANCHISE, 6),
    ("S0009", "南京新街口店", "南京", Store.Kind.FRANCHISE, 5),
    ("S0010", "武汉光谷店", "武汉", Store.Kind.OWN, 6),
    ("S0011", "天猫官方旗舰店", "", Store.Kind.PARTNER, 0),
]  # fmt: skip
TAGS = {"VIP 客户": "高消费会员", "员工": "本公司员工", "企业客户": "企业团购客户",
        "流失预警": "超过一年未消费", "新客": "近 90 天注册"}  # fmt: skip
CHANNELS = {Channel.STORE: 50, Channel.WECHAT_MINIPROGRAM: 20, Channel.TMALL: 10,
            Channel.DOUYIN: 8, Channel.JD: 7, Channel.YOUZAN: 5}  # fmt: skip
# Online members' home cities; store members live where their store is.
HOME_CITIES = {"上海": 14, "北京": 12, "广州": 8, "深圳": 9, "杭州": 7, "成都": 7, "南京": 5,
               "武汉": 5, "苏州": 5, "重庆": 6, "西安": 4, "天津": 4, "长沙": 3, "郑州": 3}  # fmt: skip
# Every number with these prefixes and 8 more digits is a valid CN mobile for `phonenumbers`.
MOBILE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151",
                   "152", "153", "155", "156", "157", "158", "159", "177", "180", "181", "182",
                   "183", "185", "186", "187", "188", "189", "198", "199"]  # fmt: skip
MAIL_DOMAINS = ["163.com", "126.com", "sina.com", "foxmail.com", "hotmail.com"]
TOKEN_CHARS = string.ascii_letters + string.digits + "-_"
HISTORY = datetime.timedelta(days=3 * 365)
OPENID_APP = "wx_demo_miniapp"

PHONE = (Identity.Kind.PHONE, "")
CARD = (Identity.Kind.CARD, "")
UNIONID = (Identity.Kind.WECHAT_UNIONID, "")
OPENID = (Identity.Kind.WECHAT_OPENID, OPENID_APP)
TMALL = (Identity.Kind.PLATFORM, "tmall")
JD = (Identity.Kind.PLATFORM, "jd")


def ensure_stores() -> list[Store]:
    """The demo stores; existing codes are left as they are (a sample import may own them)."""
    for code, name, city, kind, _weight in STORES:
        Store.objects.get_or_create(code=code, defaults={"name": name, "city": city, "kind": kind})
    return list(Store.objects.filter(code__in=[row[0] for row in STORES]))


def ensure_tags() -> dict[str, Tag]:
    return {
        name: Tag.objects.get_or_create(name=name, defaults={"description": text})[0]
        for name, text in TAGS.items()
    }


def ensure_demo_users() -> None:
    """One staff login per role; an existing user keeps its password (someone may have changed it)."""
    user_model = get_user_model()
    encoded = None
    for username, role in DEMO_USERS:
        user = user_model.objects.filter(username=username).first()
        if user is None:
            # Hashing is deliberately slow (~0.3 s): hash once, the demo logins share the password.
            encoded = encoded or make_password(DEMO_PASSWORD)
            user = user_model.objects.create(
                username=username, password=encoded, is_staff=True, is_superuser=role is Role.ADMINISTRATOR
            )
        user.groups.add(Group.objects.get_or_create(name=role.value)[0])
        if role is Role.STORE_STAFF:
            for store in Store.objects.filter(code__in=STORE_USER_STORES):
                store.staff.add(user)


class UniqueDigits:
    """Distinct zero-padded numbers in an order that looks random, without remembering them.

    Two affine maps mod 10**digits around a digit reversal: each step is a bijection, so a
    counter gives distinct values; a set of a million seen numbers would cost ~100 MB instead.
    """

    def __init__(self, digits: int, rng: random.Random) -> None:
        self.digits, self.size, self.counter = digits, 10**digits, 0
        self.a1, self.a2 = (self._unit(rng) for _ in range(2))
        self.b1, self.b2 = rng.randrange(self.size), rng.randrange(self.size)

    def _unit(self, rng: random.Random) -> int:
        while True:  # coprime with 10, so that multiplying by it is a bijection
            a = rng.randrange(1, self.size)
            if a % 2 and a % 5:
                return a

    def __call__(self) -> str:
        if self.counter >= self.size:
            raise RuntimeError(f"All {self.size} {self.digits}-digit values are used.")
        x = (self.a1 * self.counter + self.b1) % self.size
        self.counter += 1
        x = int(f"{x:0{self.digits}d}"[::-1])
        return f"{(self.a2 * x + self.b2) % self.size:0{self.digits}d}"


@dataclass(slots=True)
class _Draft:
    """A member before insertion: its unique values can still be redrawn if already taken."""

    number: str
    fields: dict[str, object]
    ids: dict[tuple[str, str], str]
    consents: list[str] = field(default_factory=list)
    tags: list[int] = field(default_factory=list)


@contextmanager
def _explicit_timestamps() -> Iterator[None]:
    """Let bulk_create store the created_at/updated_at we set instead of stamping "now".

    auto_now(_add) is applied in ``Field.pre_save``, which bulk_create calls too, so the flags
    are switched off for the duration (this process only; the command is single-threaded).
    """
    fields = [Member._meta.get_field(name) for name in ("created_at", "updated_at")]
    fields.append(Identity._meta.get_field("created_at"))
    saved = [(f, f.auto_now, f.auto_now_add) for f in fields]
    try:
        for f in fields:
            f.auto_now = f.auto_now_add = False
        yield
    finally:
        for f, auto_now, auto_now_add in saved:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


class MemberSeeder:
    """Generates members reproducibly: the same seed on the same database gives the same rows."""

    def __init__(self, *, seed: int, stores: list[Store], tags: dict[str, Tag]) -> None:
        existing = Member.objects.count()
        self.check_existing = existing > 0
        # Mixing in the member count makes a second run add new people rather than redraw clashes.
        self.rng = rng = random.Random(f"{seed}:{existing}")
        self.now, self.today = timezone.now(), timezone.localdate()
        self.numbers, self.phones = UniqueDigits(MEMBER_NUMBER_RANDOM_DIGITS, rng), UniqueDigits(8, rng)
        self.cards, self.tmall_ids = UniqueDigits(8, rng), UniqueDigits(11, rng)
        weights = {row[0]: row[4] for row in STORES}
        self.stores = [s for s in stores if s.city and weights.get(s.code)]
        self.store_weights = [weights[s.code] for s in self.stores]
        self.tags = {name: tag.pk for name, tag in tags.items()}
        self.surnames, self.surname_weights = list(ZhNames.last_names), list(ZhNames.last_names.values())
        self.single_male = [n for n in ZhNames.first_names_male if len(n) == 1]
        self.single_female = [n for n in ZhNames.first_names_female if len(n) == 1]
        self.redraw: dict[tuple[str, str], Callable[[], str]] = {
            PHONE: lambda: f"+86{rng.choice(MOBILE_PREFIXES)}{self.phones()}",
            CARD: lambda: f"VIP{self.cards()}",
            UNIONID: lambda: "oUnion_" + "".join(rng.choices(TOKEN_CHARS, k=21)),
            OPENID: lambda: "o" + "".join(rng.choices(TOKEN_CHARS, k=27)),
            TMALL: lambda: f"22{self.tmall_ids()}",
            JD: lambda: "jd_" + "".join(rng.choices(string.ascii_lowercase + string.digits, k=12)),
        }

    def run(
        self, total: int, batch_size: int = 5000, on_batch: Callable[[int, float], None] | None = None
    ) -> None:
        """Insert ``total`` members, one transaction per batch; ``on_batch(done, seconds)``."""
        started, done = time.monotonic(), 0
        while done < total:
            size = min(batch_size, total - done)
            drafts = [self._draft((done + i + self.rng.random()) / total) for i in range(size)]
            if self.check_existing:
                self._avoid_existing(drafts)
            self._insert(drafts)
            done += size
            if on_batch:
                on_batch(done, time.monotonic() - started)

    def _draft(self, position: float) -> _Draft:
        """One member; ``position`` in [0, 1) orders registration dates like the ids."""
        rng = self.rng
        created = self.now - HISTORY * (1 - math.sqrt(position))  # more sign-ups lately
        channel = rng.choices(list(CHANNELS), weights=list(CHANNELS.values()))[0]
        gender = rng.choices([Gender.FEMALE, Gender.MALE, Gender.UNKNOWN], weights=[52, 43, 5])[0]
        female = gender == Gender.FEMALE or (gender == Gender.UNKNOWN and rng.random() < 0.5)
        given = rng.choice(ZhNames.first_names_female if female else ZhNames.first_names_male)
        if len(given) == 1 and rng.random() < 0.4:
            given += rng.choice(self.single_female if female else self.single_male)
        store = None
        if channel == Channel.STORE:
            store = rng.choices(self.stores, weights=self.store_weights)[0]
            city = store.city
        else:
            city = rng.choices(list(HOME_CITIES), weights=list(HOME_CITIES.values()))[0]
            city = city if rng.random() < 0.9 else ""
        age_days = rng.randint(18 * 366, 70 * 365)
        email = self._email() if rng.random() < 0.3 else ""
        roll = rng.random()
        status = Member.Status.CLOSED if roll < 0.005 else Member.Status.FROZEN if roll < 0.015 else ""
        fields: dict[str, object] = {
            "name": rng.choices(self.surnames, weights=self.surname_weights)[0] + given,
            "gender": gender,
            "email": email,
            "birthday": self.today - datetime.timedelta(days=age_days) if rng.random() < 0.85 else None,
            "province": PROVINCES.get(city, ""),
            "city": city,
            "registration_channel": channel,
            "registration_store": store,
            "status": status or Member.Status.ACTIVE,
            "created_at": created,
            "updated_at": created,
        }
        draft = _Draft(self._member_number(), fields, {PHONE: self.redraw[PHONE]()})
        wechat = channel == Channel.WECHAT_MINIPROGRAM
        for key, share in ((CARD, 0.7), (UNIONID, 0.9 if wechat else 0.35), (OPENID, 1 if wechat else 0.1)):
            if rng.random() < share:
                draft.ids[key] = self.redraw[key]()
        if channel in (Channel.TMALL, Channel.JD):
            key = TMALL if channel == Channel.TMALL else JD
            draft.ids[key] = self.redraw[key]()
        for channel_name, share in (
            (ConsentChannel.SMS, 0.65),
            (ConsentChannel.WECHAT, 0.85 if UNIONID in draft.ids else 0.3),
            (ConsentChannel.EMAIL, 0.5 if email else 0),
        ):
            granted = rng.random() < share
            fields[f"{channel_name}_consent"] = granted
            if granted:
                draft.consents.append(channel_name)
        for tag, share in (("VIP 客户", 0.05), ("员工", 0.01), ("企业客户", 0.02)):
            if rng.random() < share:
                draft.tags.append(self.tags[tag])
        age = self.now - created
        if age < datetime.timedelta(days=90) and rng.random() < 0.8:
            draft.tags.append(self.tags["新客"])
        elif age > datetime.timedelta(days=365) and rng.random() < 0.12:
            draft.tags.append(self.tags["流失预警"])
        return draft

    def _member_number(self) -> str:
        """The format of ``services.new_member_number``, but seeded and distinct within the run."""
        body = MEMBER_NUMBER_PREFIX + self.numbers()
        return body + luhn_check_digit(body)

    def _email(self) -> str:
        rng = self.rng
        if rng.random() < 0.5:
            return f"{rng.randint(10_000, 3_999_999_999)}@qq.com"
        local = rng.choice(ZhNames.last_romanized_names) + rng.choice(ZhNames.first_romanized_names)
        return f"{local.lower()}{rng.randint(1, 999)}@{rng.choice(MAIL_DOMAINS)}"

    def _avoid_existing(self, drafts: list[_Draft]) -> None:
        """Redraw member numbers and identity values that rows already in the database hold."""
        while taken := set(
            Member.objects.filter(member_number__in=[d.number for d in drafts]).values_list(
                "member_number", flat=True
            )
        ):
            for d in drafts:
                if d.number in taken:
                    d.number = self._member_number()
        for key, redraw in self.redraw.items():
            holders = [d for d in drafts if key in d.ids]
            while holders and (
                taken := set(
                    Identity.objects.filter(
                        kind=key[0], namespace=key[1], value__in=[d.ids[key] for d in holders]
                    ).values_list("value", flat=True)
                )
            ):
                for d in holders:
                    if d.ids[key] in taken:
                        d.ids[key] = redraw()

    def _insert(self, drafts: list[_Draft]) -> None:
        members = [
            Member(member_number=d.number, mobile=d.ids[PHONE], **d.fields)  # type: ignore[arg-type]
            for d in drafts
        ]
        with transaction.atomic(), _explicit_timestamps():
            Member.objects.bulk_create(members)
            Identity.objects.bulk_create(
                Identity(
                    member_id=m.pk,
                    kind=kind,
                    namespace=namespace,
                    value=value,
                    is_primary_phone=(kind, namespace) == PHONE,
                    created_at=m.created_at,
                )
                for m, d in zip(members, drafts, strict=True)
                for (kind, namespace), value in d.ids.items()
            )
            ConsentRecord.objects.bulk_create(
                ConsentRecord(
                    member_id=m.pk, channel=c, granted=True, recorded_at=m.created_at, source="demo"
                )
                for m, d in zip(members, drafts, strict=True)
                for c in d.consents
            )
            Member.tags.through.objects.bulk_create(
                Member.tags.through(member_id=m.pk, tag_id=t)
                for m, d in zip(members, drafts, strict=True)
                for t in d.tags
            )
