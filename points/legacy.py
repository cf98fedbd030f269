"""Opening points balances from an old CRM (数据迁移), as a kind of import file
(``members.imports.legacy``): one row per lot a member held there, with its point type, points,
the date it was earned and the date it expires, and optionally the account's lifetime totals.

Rules:
- A row is one lot, posted as it was (``points.services.opening``): spendable (since its earn
  date), expiring when the old system said. A date alone means valid through that day (有效期至);
  a date and time is the moment it expires. No expiry date: the point type's policy from the
  earn date (never, for a type that never expires).
- Only point types that can be spent come this way. Growth value (成长值) is the tiers file's
  qualifying value: one path for it.
- Already expired, negative or zero: nothing to bring, the row is rejected with the reason (a
  debt in the old system is settled there or adjusted here by an operator, with approval).
- A record is its record number when the file has one (流水号), else its member, type, points
  and dates: the same record again is "already imported", in this file or any later one. Two
  real lots identical in all of those need record numbers to tell them apart.
- Lifetime totals (累计获得/使用/过期), when given, are set once per account; a row that gives
  other totals for the same account than those already set is rejected.
"""

from __future__ import annotations

import datetime
import hashlib
from collections import Counter
from collections.abc import Iterable
from typing import Any

from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.imports.legacy import Legacy, source_ref, source_ref_prefix
from members.imports.models import ImportRow, ImportRun
from members.imports.parsing import parse_datetime, parse_text
from members.imports.profiles import ParsedRow, capture
from members.imports.reasons import Reason, error, reason
from points import policy
from points.models import CarriedTotals, Entry, PointType, Source
from points.services.opening import Carried, Opening, opening_fingerprint, points_open_bulk

State = ImportRow.State
#: More than this in one lot is a typo or a file in fen, not points (the ¥1,000,000 lesson).
MAX_POINTS = 100_000_000
COUNTERS = ("lifetime_earned", "lifetime_spent", "lifetime_expired")

FIELDS: dict[str, Any] = {
    "point_type": _("Point type"),
    "points": _("Points"),
    "earned_at": _("Earned on"),
    "expires_at": _("Valid until"),
    "record": _("Record number"),
    "lifetime_earned": _("Lifetime points earned"),
    "lifetime_spent": _("Lifetime points spent"),
    "lifetime_expired": _("Lifetime points expired"),
}
COLUMNS: dict[str, tuple[str, ...]] = {
    "point_type": ("积分类型", "积分种类", "point type"),
    "points": ("积分", "积分余额", "剩余积分", "可用积分", "points", "balance"),
    "earned_at": ("获得日期", "获得时间", "积分获得时间", "发放日期", "earned on", "earned at"),
    "expires_at": ("到期日期", "过期日期", "有效期至", "过期时间", "到期时间", "valid until", "expires on"),
    "record": ("流水号", "记录号", "积分流水号", "明细编号", "record number", "record id"),
    "lifetime_earned": ("累计获得积分", "累计积分", "lifetime earned"),
    "lifetime_spent": ("累计使用积分", "累计消耗积分", "lifetime spent"),
    "lifetime_expired": ("累计过期积分", "lifetime expired"),
}
MESSAGES: dict[str, Any] = {
    "not_points": _("“%(value)s” is not a whole number of points."),
    "points_zero": _("No points: nothing to bring in."),
    "points_negative": _(
        "A negative balance is not brought in: settle it in the old system, or adjust it here with approval."
    ),
    "points_implausible": _(
        "%(value)s points in one row is not plausible: check the column (fen, not yuan?)."
    ),
    "already_expired": _("Expired on %(date)s: nothing to bring in."),
    "earned_later": _("Earned on %(date)s, which is in the future."),
    "expires_before_earned": _("Expires before it was earned."),
    "unknown_point_type": _("Unknown point type “%(value)s”."),
    "growth_with_tiers": _(
        "%(name)s is not spent: bring it in with the tiers file, as the qualifying value."
    ),
    "other_record": _("Record %(record)s was already brought in with other points or dates."),
    "other_totals": _(
        "Lifetime totals differ from those brought in before (%(earned)s / %(spent)s / %(expired)s)."
    ),
}


# --- one row, without the database -----------------------------------------------------------


def whole_points(raw: str) -> int | None:
    """``1,200``, ``1200.00``, ``1 200`` -> 1200; None when empty. Raises a reason's error."""
    text = "".join(str(raw or "").replace(",", "").split())
    if not text:
        return None
    whole, _dot, fraction = text.partition(".")
    digits = whole.removeprefix("-").removeprefix("+")
    if not digits.isdigit() or (fraction and set(fraction) != {"0"}):
        raise error("not_points", value=str(raw).strip()[:20])
    return int(whole)


def day_or_moment(raw: str, tz: datetime.tzinfo, *, end_of_day: bool) -> tuple[datetime.datetime | None, str]:
    """A date, or a date and time, as a moment; ``end_of_day``: a date alone means through that
    day (the next midnight). Also the text as the row's key keeps it."""
    text = str(raw or "").strip()
    if not text:
        return None, ""
    at = parse_datetime(text, tz)
    if end_of_day and ":" not in text:
        at += datetime.timedelta(days=1)
    return at, at.isoformat()


def parse(row: ParsedRow, raw: dict[str, str], tz: datetime.tzinfo) -> None:
    values, errors = row.values, row.errors
    kind = capture(row, "point_type", parse_text, raw.get("point_type") or "", 50) or ""
    values["point_type"] = kind
    points = capture(row, "points", whole_points, raw.get("points", ""))
    if points is not None:
        values["counts"] = {kind: points}  # the file's total, whatever else is wrong with the row
        if points == 0:
            row.add_error("points", "points_zero")
        elif points < 0:
            row.add_error("points", "points_negative")
        elif points > MAX_POINTS:
            row.add_error("points", "points_implausible", value=f"{points:,}")
    elif "points" not in errors:
        row.add_error("points", "not_points", value="")
    values["points"] = points
    earned = capture(row, "earned_at", day_or_moment, raw.get("earned_at", ""), tz, end_of_day=False)
    expires = capture(row, "expires_at", day_or_moment, raw.get("expires_at", ""), tz, end_of_day=True)
    now = timezone.now()
    earned_at, earned_text = earned or (None, "")
    expires_at, expires_text = expires or (None, "")
    if earned_at and earned_at > now:
        row.add_error("earned_at", "earned_later", date=f"{earned_at:%Y-%m-%d}")
    if expires_at and expires_at <= now:
        row.add_error("expires_at", "already_expired", date=str(policy.last_valid_day(expires_at)))
    elif expires_at and earned_at and expires_at <= earned_at:
        row.add_error("expires_at", "expires_before_earned")
    values["earned_at"], values["expires_at"] = earned_text, expires_text
    for name in COUNTERS:
        counter = capture(row, name, whole_points, raw.get(name, ""))
        if counter is not None and counter < 0:
            row.add_error(name, "not_points", value=str(counter))
        values[name] = counter
    record = capture(row, "record", parse_text, raw.get("record") or "", 40)
    values["record"] = record or ""
    member = values.get("member_number") or values.get("mobile") or values.get("card")
    values["key"] = "|".join(
        str(part) for part in (member, kind, record or f"{points}|{earned_text}|{expires_text}")
    )


# --- against the database (the preview, then the job again) ----------------------------------


class _Types:
    """Point types by code or name, as a file writes them ("积分", "points"); "" is the
    programme's first point type that can be spent."""

    def __init__(self) -> None:
        self.all = list(PointType.objects.order_by("id"))
        self.by_text = {pt.code.lower(): pt for pt in self.all} | {pt.name.lower(): pt for pt in self.all}

    def get(self, text: str) -> PointType | None:
        if not text:
            return next((pt for pt in self.all if pt.redeemable), None)
        return self.by_text.get(text.strip().lower())


def _record(values: dict[str, Any], member_id: int, point_type: PointType) -> str:
    """The ledger key of a row's lot: its record number, or what it is."""
    record = (
        values["record"]
        or hashlib.sha256(
            f"{values['points']}|{values['earned_at']}|{values['expires_at']}".encode()
        ).hexdigest()[:32]
    )
    return f"migration:{point_type.code}:{member_id}:{record}"


def _opening(run: ImportRun | None, row: ImportRow, point_type: PointType, at: datetime.datetime) -> Opening:
    values = row.values
    assert row.member_id is not None
    earned = datetime.datetime.fromisoformat(values["earned_at"]) if values["earned_at"] else None
    if values["expires_at"]:
        expires: datetime.datetime | None = datetime.datetime.fromisoformat(values["expires_at"])
    else:
        expires = policy.expires_at(point_type, earned or at)
    return Opening(
        member_id=row.member_id,
        point_type=point_type,
        amount=values["points"],
        key=_record(values, row.member_id, point_type),
        source_ref=source_ref(run, row) if run else "",
        available_at=earned or at,
        expires_at=expires,
    )


def _check(rows: list[ImportRow], run: ImportRun | None) -> list[tuple[ImportRow, Opening]]:
    """The verdicts the database gives, the same for the preview and the job: each row's type,
    a record brought in before (a duplicate, or a conflict when it differs), lifetime totals
    that disagree with those kept. The rows to post, with their openings."""
    types = _Types()
    at = timezone.now()
    planned: list[tuple[ImportRow, Opening]] = []
    for row in rows:
        text = row.values["point_type"]
        point_type = types.get(text)
        if point_type is None:
            _reject(row, "point_type", reason("unknown_point_type", value=text))
        elif not point_type.redeemable:
            _reject(row, "point_type", reason("growth_with_tiers", name=point_type.name))
        else:
            row.values["counts"] = {point_type.code: row.values["points"]}
            planned.append((row, _opening(run, row, point_type, at)))
    entries = {
        e.idempotency_key: e.fingerprint
        for e in Entry.objects.filter(idempotency_key__any=[opening.key for _row, opening in planned])
    }
    carried = _carried_now(planned)
    out = []
    for row, opening in planned:
        if opening.key in entries:
            if entries[opening.key] == opening_fingerprint(opening):
                _duplicate(row)
            else:
                record = row.values["record"] or "-"
                _reject(
                    row, "record" if row.values["record"] else "points", reason("other_record", record=record)
                )
            continue
        kept = carried.get((opening.member_id, opening.point_type.pk))
        given = _counters(row.values)
        if kept is not None and given is not None and kept != given:
            earned, spent, expired = kept
            _reject(
                row, "lifetime_earned", reason("other_totals", earned=earned, spent=spent, expired=expired)
            )
            continue
        out.append((row, opening))
    return out


def _counters(values: dict[str, Any]) -> tuple[int, int, int] | None:
    if all(values.get(name) is None for name in COUNTERS):
        return None
    return (
        values.get("lifetime_earned") or 0,
        values.get("lifetime_spent") or 0,
        values.get("lifetime_expired") or 0,
    )


def _carried_now(planned: list[tuple[ImportRow, Opening]]) -> dict[tuple[int, int], tuple[int, int, int]]:
    members = {opening.member_id for _row, opening in planned}
    kept = CarriedTotals.objects.filter(account__member_id__any=members).values_list(
        "account__member_id", "account__point_type_id", "earned", "spent", "expired"
    )
    return {(member, kind): (earned, spent, expired) for member, kind, earned, spent, expired in kept}


def _reject(row: ImportRow, field: str, problem: Reason) -> None:
    row.state, row.errors = State.REJECTED, {field: [problem]}


def _duplicate(row: ImportRow) -> None:
    row.state, row.errors = State.DUPLICATE, {"": [reason("already_imported")]}


def judge(rows: list[ImportRow]) -> None:
    _check(rows, None)


def apply(run: ImportRun, rows: list[ImportRow]) -> Counter:
    planned = _check(rows, run)
    carried: list[Carried] = []
    for row, opening in planned:
        if (given := _counters(row.values)) is not None:
            earned, spent, expired = given
            carried.append(
                Carried(opening.member_id, opening.point_type, earned, spent, expired, opening.source_ref)
            )
    results = points_open_bulk([opening for _row, opening in planned], carried, actor=run.confirmed_by)
    posted: Counter = Counter()
    for (row, opening), (_entry, created) in zip(planned, results, strict=True):
        if created:
            posted[opening.point_type.code] += opening.amount
        else:  # the same record twice in this chunk under two spellings of its member
            _duplicate(row)
    return posted


def posted(run: ImportRun) -> Counter:
    """The points the ledger holds from a run: its opening entries, by point type."""
    rows = (
        Entry.objects.filter(
            Q(source_ref__startswith=source_ref_prefix(run)), kind=Entry.Kind.OPENING, source=Source.MIGRATION
        )
        .values("account__point_type__code")
        .annotate(points=Sum("amount"))
        .order_by()
    )
    return Counter({row["account__point_type__code"]: row["points"] for row in rows})


def labels(keys: Iterable[str]) -> dict[str, str]:
    """Point types as the report shows them, in the programme's order; a file's own spelling of
    a type ("积分" for the code ``points``) reads as that type."""
    types = _Types()
    out: dict[str, str] = {pt.code: pt.name for pt in types.all}
    for key in keys:
        if key not in out:
            found = types.get(key)
            out[key] = found.name if found else key
    return out


BALANCES = Legacy(
    kind="balances",
    name=_("Opening points balances (old CRM)"),
    fields=FIELDS,
    columns=COLUMNS,
    required=("points",),
    parse=parse,
    judge=judge,
    apply=apply,
    posted=posted,
    labels=labels,
    messages=MESSAGES,
)
