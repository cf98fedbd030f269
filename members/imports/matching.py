"""Which member a row names, for a chunk of rows at once (one query per identity kind), and
which sale a return without its receipt number belongs to (profiles that match returns).

The preview and the job use the same functions: the preview to give its verdict, the job again
under its transaction, because members may have been enrolled or closed in between.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import F, Q
from django.utils import timezone

from members.imports.reasons import Reason, reason
from members.models import Identity, Member
from members.purchases.models import Purchase

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

    def match(self, values: Mapping[str, Any], match: Iterable[str]) -> tuple[int | None, Reason | None]:
        """(member id or None when nobody is known, the problem (``members.imports.reasons``) or None)."""
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
        worded by ``members.imports.reasons`` with the file's column names."""
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


def members_named(
    rows: Iterable[Mapping[str, Any]], match: Iterable[str]
) -> list[tuple[int | None, Reason | None]]:
    """For each row naming an existing member by member number and/or identities (an old CRM's
    records), (member id, None) or (None, why not): nobody has those keys, they are two members'
    keys, or the member is closed. Every key the row gives must be its member's or unknown; one
    query per kind of key for all rows. A member number of a member merged into another (OneID)
    names the one it was merged into (its ids moved there with the merge)."""
    rows = list(rows)
    match = tuple(match)
    identities = tuple(name for name in match if name != "member_number")
    owners = Owners(rows, identities)
    numbers = {str(values["member_number"]) for values in rows if values.get("member_number")}
    by_number = {
        number: (into, survivor, False) if into else (pk, number, status == Member.Status.CLOSED)
        for number, pk, status, into, survivor in Member.objects.filter(
            member_number__in=numbers
        ).values_list("member_number", "pk", "status", "merged_into_id", "merged_into__member_number")
    }
    out: list[tuple[int | None, Reason | None]] = []
    for values in rows:
        hits: list[tuple[str, str, tuple[int, str, bool]]] = []
        if (number := str(values.get("member_number") or "")) and number in by_number:
            hits.append(("member_number", number, by_number[number]))
        for name in identities:
            text = identity_value(name, values.get(name))
            if text and (hit := owners.found.get((IDENTITY_OF[name], text))):
                hits.append((name, text, hit))
        if not hits:
            named = [[name, str(values[name])] for name in match if values.get(name)]
            out.append((None, reason("no_such_member", identities=named)))
        elif len({hit[0] for _name, _text, hit in hits}) > 1:
            described = [[name, text, hit[1]] for name, text, hit in hits]
            out.append((None, reason("two_members", owners=described)))
        elif hits[0][2][2]:
            out.append((None, reason("member_closed", number=hits[0][2][1])))
        else:
            out.append((hits[0][2][0], None))
    return out


# --- returns without their original receipt number -------------------------------------------


@dataclass(frozen=True)
class SaleCandidate:
    """A sale a return may belong to: recorded (``recorded_sales``) or a sale row of the file."""

    number: str
    store_id: int | None
    occurred_at: datetime.datetime
    left: Decimal  # paid less refunded, as recorded
    purchase_id: int | None = None  # None for a sale of the file not imported yet


def sale_for_return(
    candidates: Iterable[SaleCandidate],
    *,
    store_id: int | None,
    at: datetime.datetime,
    amount: Decimal,
    days: int,
    taken: Mapping[str, Decimal],
) -> SaleCandidate | None:
    """The sale a return (at ``at``, of ``amount`` at ``store_id``) without its receipt number
    belongs to: of the member's sales (the caller gives only theirs), the most recent one at the
    same store in the ``days`` days up to the return whose amount not yet refunded (less what
    other returns ``taken`` from it in the same file) covers the return. None: no such sale.
    The preview and the job both decide with this function."""
    if store_id is None:
        return None
    since = at - datetime.timedelta(days=days)
    fitting = [
        sale
        for sale in candidates
        if sale.store_id == store_id
        and since <= sale.occurred_at <= at
        and sale.left - taken.get(sale.number, Decimal(0)) >= amount
    ]
    return max(fitting, key=lambda sale: (sale.occurred_at, sale.number), default=None)


def recorded_sales(
    source: str, member_ids: Iterable[int], since: datetime.datetime, until: datetime.datetime
) -> dict[int, list[SaleCandidate]]:
    """Member id -> their recorded sales of ``source`` in [since, until] not fully refunded."""
    rows = Purchase.objects.filter(
        Q(refunded_amount__lt=F("paid_amount")),
        source=source,
        member_id__in=set(member_ids),
        occurred_at__gte=since,
        occurred_at__lte=until,
    ).values_list(
        "member_id", "order_number", "store_id", "occurred_at", "paid_amount", "refunded_amount", "pk"
    )
    sales: dict[int, list[SaleCandidate]] = {}
    for member_id, number, store_id, occurred_at, paid, refunded, pk in rows:
        sales.setdefault(member_id, []).append(
            SaleCandidate(number, store_id, occurred_at, paid - refunded, pk)
        )
    return sales


def matched_note(sale: SaleCandidate) -> Reason:
    """What the preview and the result say about a return matched to its sale."""
    return reason(
        "return_matched",
        number=sale.number,
        when=f"{timezone.localtime(sale.occurred_at):%Y-%m-%d %H:%M}",
        left=str(sale.left),
    )


def unmatched_reason(amount: Decimal, days: int) -> Reason:
    return reason("no_sale_to_match", days=days, amount=str(amount))
