"""Finding members that are likely one person: the nightly search and the search for chosen members.

Four signals, each one query over the whole table (grouping, or a join on the identity index),
so the nightly run reads each table once at a million members:

- ``unionid``: the same WeChat UnionID recorded under two namespaces (two apps of one brand);
- ``card_form``: one card number written two ways (spaces, dashes, leading zeros, case);
- ``phone_form``: a phone number stored as another kind of id (an e-commerce account or a card
  that is the customer's mobile) while it is another member's phone;
- ``name_birthday_city``: the same name, birthday and city (groups of at most five: a common
  name in a big city is not evidence).

A pair is recorded once (``DuplicateCandidate``, first id < second id); a pair already decided
is not asked about again. Closed and merged members are left out.
"""

from __future__ import annotations

import datetime
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence

from django.db.models import CharField, Count, Func, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Concat, Replace, Right, Upper
from django.utils import timezone

from members.masking import mask_phone
from members.models import Identity, Member
from members.oneid.models import DuplicateCandidate

#: Groups larger than this under one key are not one person (a shared family card, a common name).
MAX_GROUP = 5
PHONE_LIKE = r"^(\+?86)?1[3-9][0-9]{9}$"

Groups = list[tuple[str, list[int]]]


def duplicates_find(*, member_ids: Sequence[int] | None = None, now: datetime.datetime | None = None) -> int:
    """Record the likely pairs among all members (``member_ids`` None: the nightly job) or those
    involving the given members (the admin's "find duplicates"). Returns how many pairs are new."""
    now = now or timezone.now()
    evidence: dict[tuple[int, int], list[dict[str, str]]] = defaultdict(list)
    for code, groups in (
        ("unionid", _same_unionid(member_ids)),
        ("card_form", _same_card(member_ids)),
        ("phone_form", _phone_elsewhere(member_ids)),
        ("name_birthday_city", _same_person(member_ids)),
    ):
        for key, members in groups:
            for pair in itertools.combinations(sorted(set(members)), 2):
                evidence[pair].append({"code": code, "value": key})
    if not evidence:
        return 0
    ids = {pk for pair in evidence for pk in pair}
    closed = set(
        Member.objects.filter(pk__in=ids).exclude(status=Member.Status.ACTIVE).values_list("pk", flat=True)
    )
    rows = [
        DuplicateCandidate(first_id=a, second_id=b, reasons=reasons, found_at=now)
        for (a, b), reasons in evidence.items()
        if a not in closed and b not in closed
    ]
    before = DuplicateCandidate.objects.count()
    DuplicateCandidate.objects.bulk_create(rows, ignore_conflicts=True, batch_size=2000)
    return DuplicateCandidate.objects.count() - before


def _restricted(values: QuerySet, member_ids: Sequence[int] | None, key: str) -> QuerySet:
    """Only the keys the given members have (all keys when None)."""
    if member_ids is None:
        return values
    return values.filter(**{f"{key}__in": values.filter(member_id__in=member_ids).values(key)})


def _grouped(rows: Iterable[tuple[str, int]]) -> Groups:
    members: dict[str, set[int]] = defaultdict(set)
    for key, member in rows:
        members[key].add(member)
    return [(key, sorted(ids)) for key, ids in members.items() if 1 < len(ids) <= MAX_GROUP]


def _same_unionid(member_ids: Sequence[int] | None) -> Groups:
    unionids = Identity.objects.filter(kind=Identity.Kind.WECHAT_UNIONID)
    shared = unionids.values("value").annotate(people=Count("member_id", distinct=True)).filter(people__gt=1)
    rows = _restricted(unionids.filter(value__in=shared.values("value")), member_ids, "value")
    return _grouped(rows.values_list("value", "member_id"))


def _card_key() -> Func:
    plain = Replace(
        Replace(Replace(Upper("value"), Value(" "), Value("")), Value("-"), Value("")), Value("_"), Value("")
    )
    return Func(plain, Value("0"), function="LTRIM", output_field=CharField())


def _same_card(member_ids: Sequence[int] | None) -> Groups:
    cards = Identity.objects.filter(kind=Identity.Kind.CARD).annotate(key=_card_key())
    shared = cards.values("key").annotate(people=Count("member_id", distinct=True)).filter(people__gt=1)
    rows = _restricted(cards.filter(key__in=shared.values("key")), member_ids, "key")
    return _grouped(rows.values_list("key", "member_id"))


def _phone_elsewhere(member_ids: Sequence[int] | None) -> Groups:
    """Ids of other kinds that read as a mobile number which is another member's phone."""
    owner = Identity.objects.filter(kind=Identity.Kind.PHONE, value=OuterRef("as_phone")).exclude(
        member_id=OuterRef("member_id")
    )
    rows = (
        Identity.objects.exclude(kind=Identity.Kind.PHONE)
        .filter(value__regex=PHONE_LIKE)
        .annotate(as_phone=Concat(Value("+86"), Right("value", 11), output_field=CharField()))
        .annotate(owner=Subquery(owner.values("member_id")[:1]))
        .filter(owner__isnull=False)
    )
    if member_ids is not None:
        rows = rows.filter(member_id__in=member_ids) | rows.filter(owner__in=member_ids)
    found = []
    for phone, member, other in rows.values_list("as_phone", "member_id", "owner"):
        found.append((phone, [member, other]))
    return found


def _same_person(member_ids: Sequence[int] | None) -> Groups:
    """Members sharing name, birthday and city: read in that order, streamed, grouped as they come
    (one pass over the members, no index needed; the chosen members' names only when restricted)."""
    people = (
        Member.objects.filter(status=Member.Status.ACTIVE, birthday__isnull=False)
        .exclude(name="")
        .exclude(city="")
    )
    if member_ids is not None:
        people = people.filter(name__in=people.filter(pk__in=member_ids).values("name"))
    rows = people.order_by("name", "birthday", "city").values_list("name", "birthday", "city", "pk")
    chosen = set(member_ids or ())
    groups: Groups = []
    for (name, birthday, city), members in itertools.groupby(
        rows.iterator(chunk_size=5000), key=lambda row: row[:3]
    ):
        ids = [row[3] for row in members]
        if 1 < len(ids) <= MAX_GROUP and (member_ids is None or chosen.intersection(ids)):
            groups.append((f"{name} {birthday:%Y-%m-%d} {city}", ids))
    return groups


def masked_value(code: str, value: str) -> str:
    """What a piece of evidence shows to a user without personal data."""
    if code == "phone_form":
        return mask_phone(value)
    if code == "name_birthday_city":
        return "***"
    if code == "unionid":
        return f"{value[:4]}…"
    return value  # card numbers are shown at the till
