"""Demo data for ``manage.py seed_demo``: stores, tags and members in bulk.

Members are drawn here and written by ``members_enrol``, in batches (a million enrolments one
by one take hours, in batches minutes), so they are made by the same rules and rows as every
member, back-dated to when they registered. Unique values are drawn against rows already
there, so a second run adds members.

Apps above members add their own demo data through a hook: an ``AppConfig`` may declare
``demo_seed = "<app>.demo.seed"``, a dotted path to a function taking a ``DemoRun`` (the members
this run added, the seed, the clock, the demo logins). ``seed_demo`` calls the hooks in
INSTALLED_APPS order after the members exist; this module resolves the paths with
``import_string`` and never imports those apps.
"""

from __future__ import annotations

import datetime
import math
import random
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import reset_queries, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string
from faker.providers.person.zh_CN import Provider as ZhNames

from members.models import (
    Channel,
    ConsentChannel,
    Gender,
    Identity,
    Member,
    Store,
    Tag,
)
from members.services import (
    MEMBER_NUMBER_PREFIX,
    MEMBER_NUMBER_RANDOM_DIGITS,
    Enrolment,
    IdentityKey,
    luhn_check_digit,
    members_enrol,
)

OWN, FRANCHISE, PARTNER = Store.Kind.OWN, Store.Kind.FRANCHISE, Store.Kind.PARTNER
# code, name, city, kind, share of in-store registrations (the online store has no city)
STORES = [
    ("S0000", "上海徐汇店", "上海", OWN, 14),
    ("S0001", "上海静安店", "上海", OWN, 12),
    ("S0002", "上海浦东店", "上海", OWN, 10),
    ("S0003", "北京朝阳店", "北京", OWN, 12),
    ("S0004", "北京海淀店", "北京", OWN, 9),
    ("S0005", "广州天河店", "广州", OWN, 9),
    ("S0006", "深圳南山店", "深圳", OWN, 9),
    ("S0007", "杭州西湖店", "杭州", OWN, 8),
    ("S0008", "成都春熙路店", "成都", FRANCHISE, 6),
    ("S0009", "南京新街口店", "南京", FRANCHISE, 5),
    ("S0010", "武汉光谷店", "武汉", OWN, 6),
    ("S0011", "天猫官方旗舰店", "", PARTNER, 0),
]
TAGS = {
    "VIP 客户": "高消费会员",
    "员工": "本公司员工",
    "企业客户": "企业团购客户",
    "流失预警": "超过一年未消费",
    "新客": "近 90 天注册",
}
CHANNELS = {
    Channel.STORE: 50,
    Channel.WECHAT_MINIPROGRAM: 20,
    Channel.TMALL: 10,
    Channel.DOUYIN: 8,
    Channel.JD: 7,
    Channel.YOUZAN: 5,
}
STATUSES = {Member.Status.ACTIVE: 985, Member.Status.FROZEN: 10, Member.Status.CLOSED: 5}
# city: (province, weight as an online member's home); in-store members live by their store
CITIES = {
    "上海": ("上海市", 14),
    "北京": ("北京市", 12),
    "广州": ("广东省", 8),
    "深圳": ("广东省", 9),
    "杭州": ("浙江省", 7),
    "成都": ("四川省", 7),
    "南京": ("江苏省", 5),
    "武汉": ("湖北省", 5),
    "苏州": ("江苏省", 5),
    "重庆": ("重庆市", 6),
    "西安": ("陕西省", 4),
    "天津": ("天津市", 4),
    "长沙": ("湖南省", 3),
    "郑州": ("河南省", 3),
}
# Every number with these prefixes and 8 more digits is a valid CN mobile for `phonenumbers`.
MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "177",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "198",
    "199",
]
TOKEN_CHARS = string.ascii_letters + string.digits + "-_"
HISTORY = datetime.timedelta(days=3 * 365)  # registrations spread over the last three years
NEW_MEMBER, LAPSING_MEMBER = datetime.timedelta(days=90), datetime.timedelta(days=365)
SOURCE = "demo"  # where the demo members came from, in their history and consent records

# (Identity.kind, namespace) of the identities demo members get
PHONE, CARD = (Identity.Kind.PHONE, ""), (Identity.Kind.CARD, "")
UNIONID = (Identity.Kind.WECHAT_UNIONID, "")
OPENID = (Identity.Kind.WECHAT_OPENID, "wx_demo_miniapp")
TMALL, JD = (Identity.Kind.PLATFORM, "tmall"), (Identity.Kind.PLATFORM, "jd")


def ensure_stores() -> list[Store]:
    """The demo stores; existing codes are left as they are (a sample import may own them)."""
    for code, name, city, kind, _share in STORES:
        Store.objects.get_or_create(code=code, defaults={"name": name, "city": city, "kind": kind})
    return list(Store.objects.filter(code__in=[row[0] for row in STORES]))


def ensure_tags() -> dict[str, Tag]:
    get = Tag.objects.get_or_create
    return {name: get(name=name, defaults={"description": text})[0] for name, text in TAGS.items()}


class UniqueDigits:
    """Distinct zero-padded numbers in a random-looking order, without remembering them.

    Two affine maps mod 10**digits around a digit reversal, each a bijection, so distinct
    counter values give distinct numbers; a set of a million drawn numbers would cost ~100 MB.
    """

    def __init__(self, digits: int, rng: random.Random) -> None:
        size = self.size = 10**digits
        self.digits, self.counter = digits, 0
        # multipliers ending in 1, 3, 7 or 9 are coprime with 10**digits: bijections
        self.a1, self.a2 = (10 * rng.randrange(size // 10) + rng.choice((1, 3, 7, 9)) for _ in "ab")
        self.b1, self.b2 = rng.randrange(size), rng.randrange(size)

    def __call__(self) -> str:
        if self.counter >= self.size:
            raise RuntimeError(f"All {self.size} numbers of {self.digits} digits are used.")
        x = (self.a1 * self.counter + self.b1) % self.size
        self.counter += 1
        x = int(f"{x:0{self.digits}d}"[::-1])
        return f"{(self.a2 * x + self.b2) % self.size:0{self.digits}d}"


Progress = Callable[[int, float], None]  # (members done, seconds so far)


class _Draft(NamedTuple):
    """A member, its identities and tag ids, before insertion: values can still be redrawn."""

    member: Member
    identities: dict[tuple[str, str], Identity]
    tags: list[int]


def _redraw_taken(objs: list[Any], attr: str, rows: Any, redraw: Callable[[], str]) -> None:
    """Give a new ``attr`` to each of ``objs`` whose value is already in ``rows``, until none is."""
    while objs:
        values = [getattr(obj, attr) for obj in objs]
        taken = set(rows.filter(**{f"{attr}__in": values}).values_list(attr, flat=True))
        if not taken:
            return
        for obj in objs:
            if getattr(obj, attr) in taken:
                setattr(obj, attr, redraw())


class MemberSeeder:
    """Generates members reproducibly: the same seed on the same database gives the same rows."""

    def __init__(self, *, seed: int, stores: list[Store], tags: dict[str, Tag]) -> None:
        self.existing = Member.objects.count()
        # With the member count in the seed, a second run adds new people, not clashing copies.
        self.rng = rng = random.Random(f"{seed}:{self.existing}")
        self.now, self.today = timezone.now(), timezone.localdate()
        self.numbers = UniqueDigits(MEMBER_NUMBER_RANDOM_DIGITS, rng)
        self.phones, self.cards, self.tmall_ids = (UniqueDigits(n, rng) for n in (8, 8, 11))
        shares = {row[0]: row[4] for row in STORES}
        self.stores = [s for s in stores if s.city and shares.get(s.code)]
        self.store_shares = [shares[s.code] for s in self.stores]
        self.tags = {name: tag.pk for name, tag in tags.items()}
        self.tag_objects = list(tags.values())
        self.city_shares = [share for _province, share in CITIES.values()]
        self.surnames = list(ZhNames.last_names)
        self.surname_shares = list(ZhNames.last_names.values())
        self.given = {True: ZhNames.first_names_female, False: ZhNames.first_names_male}
        self.one_char = {k: [n for n in names if len(n) == 1] for k, names in self.given.items()}
        alnum = string.ascii_lowercase + string.digits
        self.redraw: dict[tuple[str, str], Callable[[], str]] = {
            PHONE: lambda: f"+86{rng.choice(MOBILE_PREFIXES)}{self.phones()}",
            CARD: lambda: f"VIP{self.cards()}",
            UNIONID: lambda: "oUnion_" + "".join(rng.choices(TOKEN_CHARS, k=21)),
            OPENID: lambda: "o" + "".join(rng.choices(TOKEN_CHARS, k=27)),
            TMALL: lambda: f"22{self.tmall_ids()}",
            JD: lambda: "jd_" + "".join(rng.choices(alnum, k=12)),  # 36**12: no clash in practice
        }

    def run(self, total: int, batch_size: int = 5000, on_batch: Progress | None = None) -> None:
        """Insert ``total`` members, one transaction per batch; ``on_batch(done, seconds)``."""
        started, done = time.monotonic(), 0
        while done < total:
            size = min(batch_size, total - done)
            drafts = [self._draft((done + i + self.rng.random()) / total) for i in range(size)]
            if self.existing:
                self._avoid_existing(drafts)
            self._insert(drafts)
            reset_queries()  # with DEBUG on, Django keeps every (multi-megabyte) INSERT otherwise
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
        given = rng.choice(self.given[female])
        if len(given) == 1 and rng.random() < 0.4:
            given += rng.choice(self.one_char[female])
        store = rng.choices(self.stores, self.store_shares)[0] if channel == Channel.STORE else None
        city = rng.choices(list(CITIES), self.city_shares)[0]
        city = store.city if store else city if rng.random() < 0.9 else ""
        birthday = self.today - datetime.timedelta(days=rng.randint(18 * 366, 70 * 365))
        member = Member(
            member_number=self._member_number(),
            name=rng.choices(self.surnames, self.surname_shares)[0] + given,
            gender=gender,
            email=self._email() if rng.random() < 0.3 else "",
            birthday=birthday if rng.random() < 0.85 else None,
            province=CITIES.get(city, ("",))[0],
            city=city,
            registration_channel=channel,
            registration_store=store,
            status=rng.choices(list(STATUSES), weights=list(STATUSES.values()))[0],
            created_at=created,
            updated_at=created,
        )
        identities: dict[tuple[str, str], Identity] = {}
        wechat = channel == Channel.WECHAT_MINIPROGRAM
        shares: dict[tuple[str, str], float] = {
            PHONE: 1,
            CARD: 0.7,
            UNIONID: 0.9 if wechat else 0.3,
            OPENID: 1 if wechat else 0.02,
            TMALL: channel == Channel.TMALL,
            JD: channel == Channel.JD,
        }
        for (kind, namespace), share in shares.items():
            if rng.random() < share:
                identities[kind, namespace] = Identity(
                    member=member,
                    kind=kind,
                    namespace=namespace,
                    value=self.redraw[kind, namespace](),
                    is_primary_phone=kind == Identity.Kind.PHONE,
                    created_at=created,
                )
        consent_shares = {
            ConsentChannel.SMS: 0.65,
            ConsentChannel.EMAIL: 0.5 if member.email else 0,
            ConsentChannel.WECHAT: 0.85 if UNIONID in identities else 0.3,
        }
        for consent, share in consent_shares.items():
            setattr(member, f"{consent}_consent", rng.random() < share)
        new, old = self.now - created < NEW_MEMBER, self.now - created > LAPSING_MEMBER
        tag_shares = {
            "VIP 客户": 0.05,
            "员工": 0.01,
            "企业客户": 0.02,
            "新客": 0.8 * new,
            "流失预警": 0.12 * old,
        }
        tags = [self.tags[tag] for tag, share in tag_shares.items() if rng.random() < share]
        return _Draft(member, identities, tags)

    def _member_number(self) -> str:
        """The format of ``services.new_member_number``, but seeded and distinct within the run."""
        body = MEMBER_NUMBER_PREFIX + self.numbers()
        return body + luhn_check_digit(body)

    def _email(self) -> str:
        rng = self.rng
        if rng.random() < 0.5:
            return f"{rng.randint(10_000, 3_999_999_999)}@qq.com"
        local = rng.choice(ZhNames.last_romanized_names) + rng.choice(ZhNames.first_romanized_names)
        domain = rng.choice(["163.com", "126.com", "sina.com", "foxmail.com"])
        return f"{local.lower()}{rng.randint(1, 999)}@{domain}"

    def _avoid_existing(self, drafts: list[_Draft]) -> None:
        """Redraw member numbers and identity values that rows already in the database hold."""
        members = [d.member for d in drafts]
        _redraw_taken(members, "member_number", Member.objects.all(), self._member_number)
        for key, redraw in self.redraw.items():
            held = [d.identities[key] for d in drafts if key in d.identities]
            same_kind = Identity.objects.filter(kind=key[0], namespace=key[1])
            _redraw_taken(held, "value", same_kind, redraw)

    def _insert(self, drafts: list[_Draft]) -> None:
        """One batch through ``members_enrol``, as every member is made, back-dated to when the
        draft registered."""
        tags = {tag.pk: tag for tag in self.tag_objects}
        enrolments = [
            Enrolment(
                name=d.member.name,
                mobile=d.identities[PHONE].value,
                email=d.member.email,
                gender=d.member.gender,
                birthday=d.member.birthday,
                province=d.member.province,
                city=d.member.city,
                registration_channel=d.member.registration_channel,
                registration_store_id=d.member.registration_store_id,
                identities=[
                    IdentityKey(identity.kind, identity.value, identity.namespace)
                    for key, identity in d.identities.items()
                    if key != PHONE
                ],
                consents={channel: d.member.consent(channel) for channel in ConsentChannel},
                tags=[tags[pk] for pk in d.tags],
                status=d.member.status,
                enrolled_at=d.member.created_at,
                member_number=d.member.member_number,
            )
            for d in drafts
        ]
        with transaction.atomic():
            members = members_enrol(enrolments, source=SOURCE)
            refused = [outcome for outcome in members if isinstance(outcome, ValidationError)]
            if refused:  # the draws avoid what is taken: a refusal is a bug in this module
                raise refused[0]


# --- demo data of the apps above members ------------------------------------------------


@dataclass(frozen=True)
class DemoRun:
    """What each app's ``demo_seed`` hook receives."""

    members: QuerySet[Member]  # the members this run added (all statuses), in primary-key order
    seed: int
    existing: int  # members there were before this run: part of every hook's random seed
    now: datetime.datetime  # one clock for the whole run
    users: dict[str, Any]  # the demo logins by username ("admin", "store", ...)

    def rng(self, label: str) -> random.Random:
        """A generator of its own per hook, so one app's draws do not shift another's."""
        return random.Random(f"{self.seed}:{self.existing}:{label}")


DemoHook = Callable[[DemoRun], "str | None"]  # returns a one-line summary for the console


def demo_hooks() -> list[tuple[str, DemoHook]]:
    """(app label, hook) of the installed apps that declare ``demo_seed``, in INSTALLED_APPS order."""
    hooks = []
    for config in apps.get_app_configs():
        if path := getattr(config, "demo_seed", None):
            hooks.append((config.label, import_string(path)))
    return hooks
