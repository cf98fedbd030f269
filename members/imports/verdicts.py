"""The preview's verdicts on a file's rows.

Rules the preview applies (the job applies them again under its locks):
- A receipt or order counts once per profile source and number: a row already imported is a
  duplicate; the same number again in one file is a duplicate of its first row. A number
  imported before with a different paid amount or time is rejected: one of the two is wrong.
- An order imported before that comes again with a larger refunded amount (交易成功 first,
  部分退款 in a later export) is not a duplicate: the job records the refund of the difference.
- A return (退货) needs its sale: imported before, or anywhere in the same file (the job imports
  sales first). Otherwise the return is rejected with that reason; once the sale is imported,
  uploading the rejected-rows file again brings the return in. Nothing is kept waiting unseen.
- A return without its receipt number, in a profile that matches returns (N days), belongs to
  the same member's most recent sale at the same store in the N days before it with at least
  the returned amount not yet refunded (``matching.sale_for_return``, which the job applies
  again); the row's note names that receipt, or the row is rejected saying none fits.
- A row of a store the uploader does not work at is rejected, as is a row of another store
  than the one the import is for.
- A row whose identities name two members, or a closed member, is rejected; an unknown member
  is enrolled or rejected as the profile says.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from django.db.models import Count, Min, Q, QuerySet
from django.db.models.fields.json import KT
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from members.imports.legacy import LEGACY
from members.imports.matching import (
    Owners,
    SaleCandidate,
    identity_keys,
    matched_note,
    members_named,
    recorded_sales,
    sale_for_return,
    unmatched_reason,
)
from members.imports.models import ImportRow, ImportRun
from members.imports.profiles import ParsedRow, Profile
from members.imports.reasons import Reason, reason
from members.imports.targets import TARGETS
from members.models import Identity, Member, Store
from members.purchases.models import Purchase, Refund

State = ImportRow.State

#: Marks the preview puts on sale rows whose points will likely wait for review. The earning
#: rules live in a higher app (campaigns), which registers its function here: called per chunk
#: with the profile's channel and the chunk's pending sales, it sets ``ImportRow.review``.
PREVIEW_MARKS: list[Callable[[str, list[ImportRow]], None]] = []


class Judge:
    """The preview's verdicts, a chunk of parsed rows at a time, remembering the file so far."""

    def __init__(self, run: ImportRun, spec: Profile) -> None:
        self.run, self.spec = run, spec
        self.stores = dict(Store.objects.values_list("code", "pk"))
        self.stores_upper = {code.upper(): pk for code, pk in self.stores.items()}
        self.store_codes = {pk: code for code, pk in self.stores.items()}
        # What needs the whole file (the same number twice, a return's sale further down, the
        # people to enrol) is settled in the database once every row is staged (``settle``):
        # nothing per row is kept in memory, so a million-row file previews in bounded memory.
        self.identities_seen: dict[tuple[str, str], int] = {}  # member lists: id -> first row
        self.listed_seen: dict[int, int] = {}  # lists of members: member id -> first row

    # Each check returns a verdict for one row, or None to go on.

    def chunk(self, parsed: list[ParsedRow]) -> list[ImportRow]:
        staged = [self._first_verdict(row) for row in parsed]
        live = [(row, item) for row, item in zip(parsed, staged, strict=True) if item.state == State.PENDING]
        if self.spec.kind in LEGACY:
            self._legacy(live)
        elif self.spec.kind == "members":
            self._members(live)
        elif self.spec.kind == "segment":
            self._listed(live)
        else:
            self._purchases(live)
        return staged

    def settle(self) -> None:
        """The verdicts that need the whole file, from the staged rows (one pass of SQL)."""
        if self.spec.kind in LEGACY:
            self._same_records()
            return
        if self.spec.kind in ("members", "segment"):
            return
        pending = ImportRow.objects.filter(run=self.run, state=State.PENDING)
        sales, returns = pending.exclude(kind="return"), pending.filter(kind="return")
        for rows in (sales, returns):  # the same number again: a duplicate of its first row
            repeated = (
                rows.annotate(num=KT("values__order_number"))
                .values("num")
                .annotate(first=Min("number"), times=Count("pk"))
                .filter(times__gt=1)
                .order_by()
            )
            for group in repeated:
                rows.filter(values__order_number=group["num"], number__gt=group["first"]).update(
                    state=State.DUPLICATE,
                    errors={"": [reason("same_number", row=group["first"])]},
                )
        self._match_returns(pending)
        sale_numbers = sales.annotate(num=KT("values__order_number")).values("num")
        orphans = list(
            returns.filter(values__await_sale=True)
            .annotate(original=KT("values__original_order_number"))
            .exclude(original__in=sale_numbers)
            .order_by("number")
        )
        for row in orphans:
            _reject(row, "original_order_number", "sale_missing", number=row.values["original_order_number"])
        ImportRow.objects.bulk_update(orphans, ["state", "errors"], batch_size=1000)
        people = _Groups()
        for values in (
            sales.filter(values__new=True).values_list("values", flat=True).iterator(chunk_size=2000)
        ):
            people.join(identity_keys(values, self.spec.member_match))
        self.run.enrol_groups = people.linked()

    def _match_returns(self, pending: QuerySet[ImportRow]) -> None:
        """Returns without their receipt number (profiles with ``return_match_days``): the sale
        each belongs to, by ``sale_for_return`` (the job decides with it again), among the
        member's recorded sales and the sale rows of this file that name the same member (by
        the same card or phone, or another identity of the same member). The row's note says
        which receipt; a return with no such sale is rejected with the reason."""
        days = self.spec.return_match_days
        returns = list(pending.filter(kind="return", values__match_sale=True).order_by("number"))
        if not days or not returns:
            return
        match = self.spec.member_match
        wanted: dict[str, set[str]] = {}
        for row in returns:
            for name in match:
                if row.values.get(name):
                    wanted.setdefault(name, set()).add(row.values[name])
        same_people = Q(pk__in=[])
        for name, texts in wanted.items():
            same_people |= Q(**{f"values__{name}__in": sorted(texts)})
        file_sales = list(pending.exclude(kind="return").filter(same_people).order_by("number"))
        owners = Owners([row.values for row in [*returns, *file_sales]], match)
        facts = {row.number: _staged_return(row.values) for row in returns}
        members = {row.number: owners.match(row.values, match)[0] for row in returns}
        ats = [at for at, _amount in facts.values()]
        since, until = min(ats) - datetime.timedelta(days=days), max(ats)
        recorded = recorded_sales(self.spec.source, {m for m in members.values() if m}, since, until)
        in_file = [
            (
                set(identity_keys(row.values, match)),
                owners.match(row.values, match)[0],
                _file_sale(row.values),
            )
            for row in file_sales
        ]
        numbers = {sale.number for sales in recorded.values() for sale in sales}
        numbers |= {sale.number for _keys, _member, sale in in_file}
        taken: dict[str, Decimal] = defaultdict(Decimal)
        named = pending.filter(kind="return").annotate(original=KT("values__original_order_number"))
        for values in named.filter(original__in=numbers).values_list("values", flat=True):
            taken[values["original_order_number"]] += _staged_return(values)[1]  # returns naming them
        for row in returns:
            at, amount = facts[row.number]
            keys, member_id = set(identity_keys(row.values, match)), members[row.number]
            candidates = list(recorded.get(member_id, [])) if member_id else []
            candidates += [
                sale
                for sale_keys, owner, sale in in_file
                if keys & sale_keys or (member_id and owner == member_id)
            ]
            sale = sale_for_return(
                candidates, store_id=row.values.get("store_id"), at=at, amount=amount, days=days, taken=taken
            )
            if sale is None:
                _reject_with(row, "", unmatched_reason(amount, days))
                continue
            taken[sale.number] += amount
            row.values["original_order_number"] = sale.number
            row.errors = {**row.errors, "": [*row.errors.get("", []), matched_note(sale)]}
        ImportRow.objects.bulk_update(returns, ["state", "errors", "values"], batch_size=1000)

    def _same_records(self) -> None:
        """A record twice in the file (the same ``key``, which the kind's parser gives: a record
        number, a coupon code, the member's tier): the second is a duplicate of the first."""
        pending = ImportRow.objects.filter(run=self.run, state=State.PENDING)
        repeated = (
            pending.annotate(record=KT("values__key"))
            .values("record")
            .annotate(first=Min("number"), times=Count("pk"))
            .filter(times__gt=1)
            .order_by()
        )
        for group in repeated:
            pending.filter(values__key=group["record"], number__gt=group["first"]).update(
                state=State.DUPLICATE, errors={"": [reason("same_record", row=group["first"])]}
            )

    def _first_verdict(self, row: ParsedRow) -> ImportRow:
        item = ImportRow(
            run=self.run,
            number=row.number,
            kind=row.kind,
            phase=1 if row.kind == "return" else 0,
            values=row.values,
            state=State.PENDING,
        )
        if row.kind == "skip":
            item.state, item.errors, item.values = State.SKIPPED, {"": [row.reason]} if row.reason else {}, {}
        elif row.errors:
            # an old CRM's record keeps what it counts toward the file's totals, for the report
            counts = {"counts": row.values["counts"]} if "counts" in row.values else {}
            item.state, item.errors, item.values = State.REJECTED, row.errors, counts
        elif row.warnings:
            item.errors = row.warnings  # kept for the record; the row goes in
        return item

    # --- purchases ---

    def _purchases(self, live: list[tuple[ParsedRow, ImportRow]]) -> None:
        source = self.spec.source
        for _row, item in live:
            self._store(item)
        live = [(row, item) for row, item in live if item.state == State.PENDING]
        numbers = [item.values["order_number"] for _row, item in live]
        originals = [item.values.get("original_order_number") for _row, item in live if item.kind == "return"]
        bought = {
            p["order_number"]: p
            for p in Purchase.objects.filter(source=source, order_number__in=numbers + originals).values(
                "order_number", "paid_amount", "refunded_amount", "occurred_at"
            )
        }
        refunded = set(
            Refund.objects.filter(source=source, refund_number__in=numbers).values_list(
                "refund_number", flat=True
            )
        )
        owners = Owners((item.values for _row, item in live if item.kind != "return"), self.spec.member_match)
        for _row, item in live:
            values, number = item.values, item.values["order_number"]
            if item.kind == "return":
                if number in refunded:
                    _duplicate(item, "already_imported")
                elif values.get("match_sale"):
                    pass  # no receipt number: its sale is found once the whole file is read (settle)
                elif values["original_order_number"] not in bought:
                    values["await_sale"] = True  # its sale must be further down the file: see settle
                continue
            if done := bought.get(number):
                if done["paid_amount"] != values["paid"] or done["occurred_at"] != values["occurred_at"]:
                    _reject(
                        item,
                        "order_number",
                        "imported_differently",
                        number=number,
                        paid=str(done["paid_amount"]),
                        when=f"{timezone.localtime(done['occurred_at']):%Y-%m-%d %H:%M}",
                    )
                    continue
                if values.get("refunded", 0) <= done["refunded_amount"]:
                    _duplicate(item, "already_imported")
                    continue
            member_id, problem = owners.match(values, self.spec.member_match)
            if problem:
                _reject_with(item, "member", problem)
            elif member_id is None and self.spec.unknown_member == "reject":
                _reject_with(item, "member", _unknown_member(values, self.spec.member_match))
            elif member_id is None:
                values["new"] = True  # a person to enrol: see settle
        sales = [item for _row, item in live if item.state == State.PENDING and item.kind != "return"]
        for mark in PREVIEW_MARKS:
            mark(self.spec.channel, sales)

    def _store_id(self, code: str) -> int | None:
        return self.stores.get(code) or self.stores_upper.get(code.upper())

    def _store(self, item: ImportRow) -> None:
        run, values = self.run, item.values
        code = values.get("store_code") or ""
        if code:
            store_id = self._store_id(code)
            if store_id is None:
                _reject(item, "store_code", "unknown_store", code=code)
                return
        else:
            store_id = run.store_id
        if run.store_id and store_id != run.store_id:
            _reject(item, "store_code", "other_store", code=code, ours=self.store_codes.get(run.store_id))
        elif run.allowed_stores is not None and store_id not in run.allowed_stores:
            _reject(item, "store_code", "not_your_store", code=code)
        else:
            values["store_id"] = store_id

    # --- members ---

    def _members(self, live: list[tuple[ParsedRow, ImportRow]]) -> None:
        match = ("mobile", "card", "unionid")
        owners = Owners((item.values for _row, item in live), match)
        for _row, item in live:
            values = item.values
            clash = [
                (name, self.identities_seen[(name, str(values[name]))])
                for name in match
                if values.get(name) and (name, str(values[name])) in self.identities_seen
            ]
            if clash:
                name, first = clash[0]
                _reject(item, name, "shared_identity", column=name, value=str(values[name]), row=first)
                continue
            for name in match:
                if values.get(name):
                    self.identities_seen[(name, str(values[name]))] = item.number
            code = values.get("registration_store") or ""
            if code:
                store_id = self._store_id(code)
                if store_id is None:
                    _reject(item, "registration_store", "unknown_store", code=code)
                    continue
                values["registration_store_id"] = store_id
            member_id, problem = owners.match(values, match)
            if problem:
                _reject_with(item, "member", problem)
            elif member_id is not None and owners.all_known(values, match):
                _duplicate(item, "already_member")
            elif member_id is not None:
                _reject(item, "member", "taken", owners=owners.describe(values, match))

    # --- an old CRM's records ---

    def _legacy(self, live: list[tuple[ParsedRow, ImportRow]]) -> None:
        """Each row's member (``members_named``), then the kind's own verdicts."""
        items = [item for _row, item in live]
        for item, (member_id, problem) in zip(
            items, members_named([item.values for item in items], self.spec.member_match), strict=True
        ):
            if problem:
                _reject_with(item, "member", problem)
            else:
                item.member_id = member_id
        LEGACY[self.spec.kind].judge([item for item in items if item.state == State.PENDING])

    # --- lists of existing members ---

    def _listed(self, live: list[tuple[ParsedRow, ImportRow]]) -> None:
        """Each row's member (by number, phone or both: they must agree), one query per key; an
        unknown or closed one is rejected, one named before in the file or already on the list
        is a duplicate (running the file again adds nothing)."""
        values = [item.values for _row, item in live]
        numbers = {v["member_number"] for v in values if v["member_number"]}
        phones = {v["mobile"] for v in values if v["mobile"]}
        by_number = {
            number: (pk, status)
            for number, pk, status in Member.objects.filter(member_number__in=numbers).values_list(
                "member_number", "pk", "status"
            )
        }
        by_phone = {
            phone: (pk, status)
            for phone, pk, status in Identity.objects.filter(
                kind=Identity.Kind.PHONE, value__in=phones
            ).values_list("value", "member_id", "member__status")
        }
        found: list[tuple[ImportRow, int]] = []
        for _row, item in live:
            v = item.values
            named = [(name, v[name]) for name in ("member_number", "mobile") if v[name]]
            owners = {
                (by_number if name == "member_number" else by_phone).get(value) for name, value in named
            }
            if None in owners:
                _reject(item, "member", "no_such_member", identities=[[n, str(x)] for n, x in named])
            elif len(owners) > 1:
                _reject(item, "member", "not_one_member")
            else:
                ((member_id, status),) = owners  # type: ignore[misc]
                if status == Member.Status.CLOSED:
                    _reject(item, "member", "member_closed", number=v["member_number"] or v["mobile"])
                elif member_id in self.listed_seen:
                    _duplicate(item, "same_member", row=self.listed_seen[member_id])
                else:
                    self.listed_seen[member_id] = item.number
                    item.member_id = member_id
                    found.append((item, member_id))
        target = TARGETS.get(self.spec.kind)
        if target is not None and self.run.target_id is not None and found:
            present = target.present(self.run.target_id, [member_id for _item, member_id in found])
            for item, member_id in found:
                if member_id in present:
                    _duplicate(item, "already_listed")


class _Groups:
    """Union-find over the identities of people to enrol: rows naming card A, then phone P,
    then both, are one person, whatever the order and however the job cuts the file."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def _root(self, key: str) -> str:
        parent = self.parent.setdefault(key, key)
        while parent != key:
            self.parent[key] = self.parent.setdefault(parent, parent)
            key, parent = parent, self.parent[parent]
        return key

    def join(self, keys: list[str]) -> None:
        roots = [self._root(key) for key in keys]
        for root in roots[1:]:
            self.parent[root] = roots[0]
            roots[0] = self._root(roots[0])

    def linked(self) -> list[list[str]]:
        """Groups of more than one identity (a lone identity needs no record)."""
        groups: dict[str, list[str]] = {}
        for key in self.parent:
            groups.setdefault(self._root(key), []).append(key)
        return [sorted(keys) for keys in groups.values() if len(keys) > 1]


def _staged_datetime(text: str) -> datetime.datetime:
    """A time the preview staged (ISO text it wrote itself, so never malformed)."""
    at = parse_datetime(text)
    if at is None:
        raise ValueError(f"not a staged time: {text!r}")
    return at


def _staged_return(values: dict[str, Any]) -> tuple[datetime.datetime, Decimal]:
    """A staged return's time and amount (staged values are JSON: text)."""
    return _staged_datetime(values["occurred_at"]), Decimal(str(values["paid"]))


def _file_sale(values: dict[str, Any]) -> SaleCandidate:
    """A sale row of the file as a sale a return may belong to (nothing refunded yet)."""
    return SaleCandidate(
        number=values["order_number"],
        store_id=values.get("store_id"),
        occurred_at=_staged_datetime(values["occurred_at"]),
        left=Decimal(str(values["paid"])) - Decimal(str(values.get("refunded") or 0)),
    )


def _reject(item: ImportRow, field: str, code: str, /, **params: Any) -> None:
    _reject_with(item, field, reason(code, **params))


def _reject_with(item: ImportRow, field: str, problem: Reason) -> None:
    item.state = State.REJECTED
    item.errors = {field: [problem]}


def _duplicate(item: ImportRow, code: str, /, **params: Any) -> None:
    item.state = State.DUPLICATE
    item.errors = {"": [reason(code, **params)]}


def _unknown_member(values: dict[str, Any], match: Iterable[str]) -> Reason:
    return reason(
        "no_such_member", identities=[[name, str(values[name])] for name in match if values.get(name)]
    )
