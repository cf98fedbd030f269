"""Moving in from an old CRM (数据迁移): files of what members held there, brought in through the
same preview, job and rejected-rows file as any other import.

What each kind of file becomes lives in the app that owns it: opening points balances in
points, tiers in tiers, outstanding coupons in benefits. Each registers a ``Legacy`` here (in
its ``ready()``), as the earning pipeline registers its processor (``apply.PROCESSORS``):
members never imports them. The framework around it is the same for all three:

- a row names its member by member number, phone or card (the members are imported first, with
  the member list profile); a row naming nobody known, or two members, is rejected;
- ``parse`` checks a row alone and says what it counts toward the file's totals
  (``values["counts"]``: points per type, coupons, tiers), kept even for a rejected row, so the
  report can say where every point of the file went;
- ``judge`` gives the preview's verdicts that need the database (a point type, a tier, a code
  already in use), ``apply`` writes a chunk under the job's transaction, each row keyed so that
  running a file again adds nothing (the row is "already imported");
- ``posted`` reads back what the database holds from a run (the ledger's entries of the run),
  which the report compares with the file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_lazy as _

from members.imports.models import ImportRow, ImportRun

if TYPE_CHECKING:
    import datetime

    from django_stubs_ext import StrOrPromise

    from members.imports.profiles import ParsedRow

#: How a row of an old CRM's export names its member, in the order tried.
MEMBER_MATCH = ("member_number", "mobile", "card")
MEMBER_COLUMNS: dict[str, tuple[str, ...]] = {
    "member_number": ("会员号", "会员编号", "会员编码", "member number", "member no"),
    "mobile": ("手机号", "手机", "手机号码", "会员手机", "mobile", "phone"),
    "card": ("会员卡号", "卡号", "card", "card number"),
}
MEMBER_FIELDS: dict[str, Any] = {
    "member_number": _("Member number"),
    "mobile": _("Mobile phone"),
    "card": _("Membership card number"),
}


@dataclass(frozen=True)
class Legacy:
    """One kind of old-CRM file (``ImportProfile.kind``) and what its rows become."""

    kind: str
    name: StrOrPromise  # the shipped profile's name
    fields: Mapping[str, Any]  # its own fields -> their words (the mapper's and the messages')
    columns: Mapping[str, tuple[str, ...]]  # its own fields -> the headers that mean them
    required: tuple[str, ...]
    #: (row, {field: cell text}, time zone): fill ``row.values`` (with ``counts``) or its errors
    parse: Callable[[ParsedRow, dict[str, str], datetime.tzinfo], None]
    #: the preview's verdicts on a chunk's rows whose member is known (``member_id`` set)
    judge: Callable[[list[ImportRow]], None]
    #: write a chunk's rows (member known) inside the job's transaction; what was posted, by key
    apply: Callable[[ImportRun, list[ImportRow]], Counter]
    #: what the database holds from a run, by the keys of ``counts``
    posted: Callable[[ImportRun], Counter]
    #: the keys of ``counts`` in the reader's words ("积分", "优惠券")
    labels: Callable[[Iterable[str]], dict[str, str]]
    messages: Mapping[str, Any]  # its reasons by code (``members.imports.reasons``)

    @property
    def code(self) -> str:
        return f"migration_{self.kind}"


#: ImportProfile.Kind -> its old-CRM file.
LEGACY: dict[str, Legacy] = {}


def legacy_register(legacy: Legacy) -> None:
    """Called by the owning app's ``ready()``: its files become a kind of import, with a shipped
    profile of the usual Chinese and English headers (an operator maps other layouts)."""
    from members.imports.profiles import SHIPPED, Profile
    from members.imports.reasons import MESSAGES

    LEGACY[legacy.kind] = legacy
    MESSAGES.update(legacy.messages)
    SHIPPED[legacy.code] = Profile(
        code=legacy.code,
        name=legacy.name,
        kind=legacy.kind,
        columns={**MEMBER_COLUMNS, **legacy.columns},
        required=legacy.required,
        source="migration",
        member_match=MEMBER_MATCH,
        unknown_member="reject",
    )


def member_of(row: ImportRow) -> int:
    """The member of a row ``judge`` or ``apply`` is given: the framework found it."""
    assert row.member_id is not None
    return row.member_id


def source_ref(run: ImportRun, row: ImportRow) -> str:
    """What the ledger and the coupons keep of where a row came from: ``import:<run>:<row>``."""
    return f"import:{run.pk}:{row.number}"


def source_ref_prefix(run: ImportRun) -> str:
    return f"import:{run.pk}:"


# --- the reconciliation report --------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One total of a run: the file's, and where it went."""

    label: str
    in_file: int  # every row that could be read
    posted: int  # rows done by the job
    held: int  # what the database holds from the run (``Legacy.posted``)
    already: int  # rows imported by an earlier run (or the same record twice in the file)
    rejected: int  # rows rejected: see the rejected-rows file
    waiting: int  # rows not done yet (the run is still going, or not confirmed)

    @property
    def balanced(self) -> bool:
        """The file's total is accounted for, row by row, and the database holds what was posted."""
        return self.in_file == self.posted + self.already + self.rejected + self.waiting and (
            self.held == self.posted
        )


@dataclass(frozen=True)
class Report:
    lines: list[Line]
    unreadable: int  # rejected rows whose amounts could not be read (in no total)

    @property
    def balanced(self) -> bool:
        return all(line.balanced for line in self.lines) and not self.unreadable


def reconciliation(run: ImportRun) -> Report:
    """The file's totals against what the run posted, from the staged rows (one pass) and the
    database (``Legacy.posted``)."""
    legacy = LEGACY[run.profile.kind]
    by_state: dict[str, Counter] = {state: Counter() for state in ImportRow.State.values}
    unreadable = 0
    rows = run.rows.exclude(state=ImportRow.State.SKIPPED).values_list("state", "values__counts")
    for state, counts in rows.iterator(chunk_size=5000):
        if counts is None:
            unreadable += 1
            continue
        by_state[state].update(counts)
    every = Counter[str]()
    for counts in by_state.values():
        every.update(counts)
    held = legacy.posted(run)
    labels = legacy.labels([*every, *held])
    # A file may spell one total two ways (积分 and ``points``): one line per label.
    columns: dict[str, Counter] = {"file": every, "held": held, **by_state}
    lines: dict[str, Counter] = {}
    for key in {*every, *held}:
        line = lines.setdefault(labels.get(key, key), Counter())
        for column, counts in columns.items():
            line[column] += counts[key]
    order = list(dict.fromkeys(labels.values()))
    State = ImportRow.State
    return Report(
        [
            Line(
                label=label,
                in_file=line["file"],
                posted=line[State.DONE],
                held=line["held"],
                already=line[State.DUPLICATE],
                rejected=line[State.REJECTED],
                waiting=line[State.PENDING],
            )
            for label, line in sorted(
                lines.items(),
                key=lambda item: (order.index(item[0]) if item[0] in order else len(order), item[0]),
            )
        ],
        unreadable,
    )
