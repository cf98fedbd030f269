"""Members and their identities, drawn per member from the seed and the member's index, so the
activity phase can draw the same person again without reading a million rows back.

Registrations spread over the seeded years, more of them lately, plus some members from before
(``OLDER`` of them, over the three years before). Each member has a home city and store, a
registration channel, a gender, usually a birthday (ages 18 to 70), consents, a unique mobile
(the primary phone identity, as ``members_enrol`` writes it), often a card and a WeChat UnionID;
and, for the activity phase, how much they buy (Pareto: most rarely, a few very often), sign in
and redeem.
"""

from __future__ import annotations

import array
import bisect
import datetime
import itertools
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass

from faker.providers.person.zh_CN import Provider as ZhNames

from campaigns.scale.programme import Programme, StoreInfo
from members.demo import MOBILE_PREFIXES, UniqueDigits
from members.models import Channel, Gender, Identity, Member
from members.services import MEMBER_NUMBER_PREFIX, MEMBER_NUMBER_RANDOM_DIGITS, luhn_check_digit

OLDER = 0.15  # share of members registered before the seeded years
DAY = 86_400
TOKEN = string.ascii_letters + string.digits + "-_"
CHANNELS = {  # registration channel: weight, share of purchases made online later
    Channel.STORE: (55, 0.15),
    Channel.WECHAT_MINIPROGRAM: (18, 0.45),
    Channel.TMALL: (10, 0.8),
    Channel.JD: (7, 0.8),
    Channel.DOUYIN: (6, 0.7),
    Channel.APP: (4, 0.5),
}
STATUSES = [(Member.Status.ACTIVE, 985), (Member.Status.FROZEN, 10), (Member.Status.CLOSED, 5)]
MEMBER_COLUMNS = (
    "id",
    "member_number",
    "name",
    "mobile",
    "email",
    "gender",
    "birthday",
    "province",
    "city",
    "registration_channel",
    "registration_store_id",
    "status",
    "sms_consent",
    "email_consent",
    "wechat_consent",
    "created_at",
    "updated_at",
)
IDENTITY_COLUMNS = ("id", "member_id", "kind", "namespace", "value", "is_primary_phone", "created_at")


def _cumulative(weights: list[float]) -> list[float]:
    return list(itertools.accumulate(weights))


@dataclass(slots=True)
class Person:
    """What the activity phase needs of a member (all of it drawn again from the index)."""

    index: int
    id: int
    number: str
    registered: int  # epoch seconds
    status: str
    birthday: datetime.date | None
    store: StoreInfo  # home store (a shop)
    online: float  # share of purchases made online
    buys: float  # purchase propensity (0: never buys)
    signs: float  # sign-in propensity
    redeems: float  # chance to redeem when a reward is affordable
    row: tuple = ()
    identities: tuple = ()


class People:
    """Draws member ``index`` of a run: the same person for the same seed, every time."""

    def __init__(
        self, *, seed: int, total: int, first_id: int, start: int, now: int, programme: Programme
    ) -> None:
        self.seed, self.total, self.first_id = seed, total, first_id
        self.start, self.now = start, now
        rng = random.Random(f"scale:{seed}:numbers")
        self.numbers = UniqueDigits(MEMBER_NUMBER_RANDOM_DIGITS, rng)
        self.phones, self.cards = UniqueDigits(8, rng), UniqueDigits(8, rng)
        self.shops = [s for s in programme.stores if s.channel == Channel.STORE]
        self.shop_weights = _cumulative([max(s.weight, 1) for s in self.shops])
        self.by_city: dict[str, list[StoreInfo]] = {}
        for shop in self.shops:
            self.by_city.setdefault(shop.city, []).append(shop)
        self.online = {s.channel: s for s in programme.stores if s.channel != Channel.STORE}
        self.channels = list(CHANNELS)
        self.channel_weights = _cumulative([w for w, _share in CHANNELS.values()])
        self.surnames = list(ZhNames.last_names)
        self.surname_weights = _cumulative(list(ZhNames.last_names.values()))
        self.given = {True: list(ZhNames.first_names_female), False: list(ZhNames.first_names_male)}
        self.statuses = [s for s, _w in STATUSES]
        self.status_weights = _cumulative([w for _s, w in STATUSES])
        self.today = datetime.datetime.fromtimestamp(now, datetime.UTC).date()
        self.known = array.array("q", bytes(8 * total))  # member numbers once drawn (8 MB a million)

    def registered_at(self, index: int, rng: random.Random) -> int:
        """More registrations lately; ``OLDER`` of them in the three years before the start."""
        position = (index + rng.random()) / self.total
        if position < OLDER:
            return int(self.start - 3 * 365 * DAY * (1 - position / OLDER))
        share = (position - OLDER) / (1 - OLDER)
        return int(self.start + (self.now - self.start - DAY) * share**0.7)

    def person(self, index: int, *, rows: bool = False) -> Person:
        rng = random.Random(self.seed * 100_000_007 + index)
        registered = self.registered_at(index, rng)
        channel = self.channels[bisect.bisect(self.channel_weights, rng.random() * self.channel_weights[-1])]
        shop = self.shops[bisect.bisect(self.shop_weights, rng.random() * self.shop_weights[-1])]
        if channel != Channel.STORE and rng.random() < 0.3:  # online members: a shop in another city
            shop = rng.choice(self.shops)
        draw = rng.random()
        gender = Gender.FEMALE if draw < 0.55 else Gender.MALE if draw < 0.95 else Gender.UNKNOWN
        birthday = None
        if rng.random() < 0.88:
            age_days = int(365.25 * (18 + 52 * rng.triangular(0, 1, 0.25)))  # most 25 to 40
            birthday = self.today - datetime.timedelta(days=age_days)
        status = self.statuses[bisect.bisect(self.status_weights, rng.random() * self.status_weights[-1])]
        buys = 0.0 if rng.random() < 0.2 else min(rng.paretovariate(1.3), 150.0)
        signs = 0.0 if rng.random() < 0.75 else min(rng.paretovariate(1.2), 120.0)
        redeems = 0.0 if rng.random() < 0.45 else rng.uniform(0.1, 0.6)
        member_id = self.first_id + index
        if not (number := self.known[index]):  # drawn once, when the member is written
            self.numbers.counter = index
            body = MEMBER_NUMBER_PREFIX + self.numbers()
            number = self.known[index] = int(body + luhn_check_digit(body))
        person = Person(
            index=index,
            id=member_id,
            number=str(number),
            registered=registered,
            status=status,
            birthday=birthday,
            store=shop,
            online=CHANNELS[channel][1],
            buys=buys,
            signs=signs,
            redeems=redeems,
        )
        if rows:
            self._rows(person, rng, channel, gender)
        return person

    def _rows(self, person: Person, rng: random.Random, channel: str, gender: str) -> None:
        female = gender == Gender.FEMALE or (gender == Gender.UNKNOWN and rng.random() < 0.5)
        given = rng.choice(self.given[female])
        if len(given) == 1 and rng.random() < 0.4:
            given += rng.choice(self.given[female])[0]
        name = (
            self.surnames[bisect.bisect(self.surname_weights, rng.random() * self.surname_weights[-1])]
            + given
        )
        self.phones.counter = self.cards.counter = person.index
        mobile = f"+86{rng.choice(MOBILE_PREFIXES)}{self.phones()}"
        store = person.store if channel == Channel.STORE else self.online.get(channel)
        email = f"{rng.randint(10_000, 3_999_999_999)}@qq.com" if rng.random() < 0.2 else ""
        at = datetime.datetime.fromtimestamp(person.registered, datetime.UTC)
        person.row = (
            person.id,
            person.number,
            name,
            mobile,
            email,
            gender,
            person.birthday,
            person.store.province,
            person.store.city,
            channel,
            store.id if store else None,
            person.status,
            rng.random() < 0.6,
            bool(email) and rng.random() < 0.5,
            rng.random() < 0.45,
            at,
            at,
        )
        identities = [(Identity.Kind.PHONE, "", mobile, True)]
        if rng.random() < 0.6:
            identities.append((Identity.Kind.CARD, "", f"VIP{self.cards()}", False))
        if channel == Channel.WECHAT_MINIPROGRAM or rng.random() < 0.3:
            token = "".join(rng.choices(TOKEN, k=21))
            identities.append((Identity.Kind.WECHAT_UNIONID, "", f"oUnion_{token}", False))
        person.identities = tuple((person.id, *identity, at) for identity in identities)

    def active_years(self, person: Person) -> float:
        """Years of the seeded window the member could buy in."""
        return max(self.now - max(person.registered, self.start), 0) / (365 * DAY)


def people_chunks(people: People, chunk: int) -> Iterator[tuple[list[tuple], list[tuple], float, float]]:
    """(member rows, identity rows, Σ purchase weight, Σ sign-in weight) per ``chunk`` members;
    identity rows lack their id (numbered by the caller)."""
    for first in range(0, people.total, chunk):
        members: list[tuple] = []
        identities: list[tuple] = []
        buys = signs = 0.0
        for index in range(first, min(first + chunk, people.total)):
            person = people.person(index, rows=True)
            members.append(person.row)
            identities.extend(person.identities)
            years = people.active_years(person)
            buys += person.buys * years
            signs += person.signs * years
        yield members, identities, buys, signs
