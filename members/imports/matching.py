"""Which member a row names, for a chunk of rows at once (one query per identity kind).

The preview and the job use the same function: the preview to give its verdict, the job again
under its transaction, because members may have been enrolled or closed in between.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from members.models import Identity, Member
from members.reasons import Reason, reason

#: Row value -> identity kind it is looked up as.
IDENTITY_OF = {
    "card": Identity.Kind.CARD,
    "mobile": Identity.Kind.PHONE,
    "unionid": Identity.Kind.WECHAT_UNIONID,
}


def identity_value(name: str, value: Any) -> str:
    text = str(value or "").strip()
    return text.upper() if name == "card" else text


def identity_keys(values: Mapping[str, Any], match: Iterable[str]) -> list[str]:
    """A row's identities as ``name:value`` strings, the form enrolment groups are kept in."""
    return [f"{name}:{identity_value(name, values.get(name))}" for name in match if values.get(name)]


class Owners:
    """Identity -> (member id, member number, closed) for the identities of some rows."""

    def __init__(self, rows: Iterable[Mapping[str, Any]], match: Iterable[str]) -> None:
        wanted: dict[str, set[str]] = {}
        for values in rows:
            for name in match:
                if text := identity_value(name, values.get(name)):
                    wanted.setdefault(IDENTITY_OF[name], set()).add(text)
        self.found: dict[tuple[str, str], tuple[int, str, bool]] = {}
        for kind, texts in wanted.items():
            found = Identity.objects.filter(kind=kind, namespace="", value__in=texts).values_list(
                "value", "member_id", "member__member_number", "member__status"
            )
            for value, member_id, number, status in found:
                self.found[(kind, value)] = (member_id, number, status == Member.Status.CLOSED)

    def add(self, name: str, value: str, member_id: int, number: str) -> None:
        """Remember a member enrolled in this chunk, so a later row of it finds them."""
        self.found[(IDENTITY_OF[name], identity_value(name, value))] = (member_id, number, False)

    def match(self, values: Mapping[str, Any], match: Iterable[str]) -> tuple[int | None, Reason | None]:
        """(member id or None when nobody is known, the problem (``members.reasons``) or None)."""
        hits: dict[str, tuple[int, str, bool]] = {}
        for name in match:
            text = identity_value(name, values.get(name))
            if text and (hit := self.found.get((IDENTITY_OF[name], text))):
                hits[name] = hit
        members = {hit[0] for hit in hits.values()}
        if len(members) > 1:
            return None, reason("two_members", owners=self.describe(values, match))
        if not hits:
            return None, None
        member_id, number, closed = next(iter(hits.values()))
        if closed:
            return None, reason("member_closed", number=number)
        return member_id, None

    def describe(self, values: Mapping[str, Any], match: Iterable[str]) -> list[list[str]]:
        """Which of the row's identities belong to whom: [field, value, member number] each,
        worded by ``members.reasons`` with the file's column names."""
        return [
            [name, text, hit[1]]
            for name in match
            if (text := identity_value(name, values.get(name)))
            and (hit := self.found.get((IDENTITY_OF[name], text)))
        ]

    def all_known(self, values: Mapping[str, Any], match: Iterable[str]) -> bool:
        return all(
            (IDENTITY_OF[name], identity_value(name, values.get(name))) in self.found
            for name in match
            if identity_value(name, values.get(name))
        )
