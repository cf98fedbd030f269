"""Outstanding coupons from an old CRM (数据迁移), as a kind of import file
(``members.imports.legacy``): one row per coupon a member holds and has not used, with its code,
its benefit (by name) and its validity.

Rules:
- The code stays the member's code: a coupon printed or sent before the move is redeemed at the
  till as it was. It is kept as the till reads codes (letters and digits, upper case: spaces and
  dashes dropped), 4 to 20 characters; a code that is another coupon's here is rejected.
- The benefit is one of ours that is issued as a coupon, named as in the admin; map the old
  system's coupon types to benefits before importing.
- Valid from the file's date (or now), until the file's (a date alone: through that day). A
  coupon already expired, or used (not in the file: only outstanding ones are exported), is not
  brought in.
- No webhook or message: members already hold these coupons.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable
from typing import Any

from django.db.models.fields.json import KT
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from benefits.coupons import normalise_code
from benefits.models import Benefit, Coupon
from members.imports.legacy import Legacy, member_of
from members.imports.models import ImportRow, ImportRun
from members.imports.parsing import parse_text
from members.imports.profiles import ParsedRow, capture
from members.imports.reasons import Reason, reason
from points.legacy import day_or_moment
from points.policy import last_valid_day

State = ImportRow.State
COUPONS = "coupons"
CODE_LENGTHS = (4, Coupon._meta.get_field("code").max_length or 20)

FIELDS: dict[str, Any] = {
    "code": _("Coupon code"),
    "benefit": _("Benefit"),
    "valid_from": _("Valid from"),
    "valid_until": _("Valid until"),
}
COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("券码", "优惠券码", "券号", "coupon code", "code"),
    "benefit": ("优惠券名称", "券名称", "券类型", "权益", "coupon", "benefit"),
    "valid_from": ("生效日期", "开始日期", "有效期开始", "valid from"),
    "valid_until": ("有效期至", "失效日期", "到期日期", "有效期结束", "valid until"),
}
MESSAGES: dict[str, Any] = {
    "coupon_code_length": _("“%(value)s” is not a coupon code (%(low)d to %(high)d letters or digits)."),
    "coupon_expired": _("The coupon expired on %(date)s: nothing to bring in."),
    "coupon_validity": _("The coupon ends before it starts."),
    "unknown_benefit": _("No benefit is named “%(value)s”: add it, or use one of ours."),
    "benefit_held": _("%(name)s is held, not issued as a coupon."),
    "code_taken": _("Code %(code)s is another coupon's here."),
}


def parse(row: ParsedRow, raw: dict[str, str], tz: datetime.tzinfo) -> None:
    values = row.values
    typed = str(raw.get("code") or "").strip()
    code = normalise_code(typed)
    low, high = CODE_LENGTHS
    if not low <= len(code) <= high:
        row.add_error("code", "coupon_code_length", value=typed[:24], low=low, high=high)
    values["code"] = code
    values["benefit"] = capture(row, "benefit", parse_text, raw.get("benefit") or "", 60) or ""
    start = capture(row, "valid_from", day_or_moment, raw.get("valid_from", ""), tz, end_of_day=False)
    end = capture(row, "valid_until", day_or_moment, raw.get("valid_until", ""), tz, end_of_day=True)
    start_at, start_text = start or (None, "")
    end_at, end_text = end or (None, "")
    if end_at is None and "valid_until" not in row.errors:
        row.add_error("valid_until", "empty_date")
    elif end_at is not None and end_at <= timezone.now():
        row.add_error("valid_until", "coupon_expired", date=str(last_valid_day(end_at)))
    elif end_at is not None and start_at is not None and end_at <= start_at:
        row.add_error("valid_until", "coupon_validity")
    values["valid_from"], values["valid_until"] = start_text, end_text
    values["counts"] = {COUPONS: 1}
    values["key"] = f"coupon|{code}"


def _reject(row: ImportRow, field: str, problem: Reason) -> None:
    row.state, row.errors = State.REJECTED, {field: [problem]}


def _check(rows: list[ImportRow]) -> list[tuple[ImportRow, Benefit]]:
    """The preview's and the job's verdicts: the benefit, a code in use (by this coupon, brought
    in before: a duplicate; by another: rejected)."""
    # an active benefit wins over a retired one of the same name (later in the order)
    benefits = {benefit.name.lower(): benefit for benefit in Benefit.objects.order_by("active", "-id")}
    taken = {
        code: (member_id, origin)
        for code, member_id, origin in Coupon.objects.filter(
            code__in=[row.values["code"] for row in rows]
        ).values_list("code", "member_id", "origin")
    }
    out = []
    for row in rows:
        values = row.values
        benefit = benefits.get(values["benefit"].lower())
        if benefit is None:
            _reject(row, "benefit", reason("unknown_benefit", value=values["benefit"]))
        elif not benefit.issued:
            _reject(row, "benefit", reason("benefit_held", name=benefit.name))
        elif (holder := taken.get(values["code"])) is not None:
            if holder == (row.member_id, Coupon.Origin.MIGRATION):
                row.state, row.errors = State.DUPLICATE, {"": [reason("already_imported")]}
            else:
                _reject(row, "code", reason("code_taken", code=values["code"]))
        else:
            out.append((row, benefit))
    return out


def judge(rows: list[ImportRow]) -> None:
    _check(rows)


def apply(run: ImportRun, rows: list[ImportRow]) -> Counter:
    """The chunk's coupons in one insert; a code another import took meanwhile breaks the unique
    key, and the job redoes the chunk row by row, rejecting that row."""
    at = timezone.now()
    coupons = []
    for row, benefit in _check(rows):
        values = row.values
        start = datetime.datetime.fromisoformat(values["valid_from"]) if values["valid_from"] else at
        coupons.append(
            Coupon(
                code=values["code"],
                benefit=benefit,
                member_id=member_of(row),
                origin=Coupon.Origin.MIGRATION,
                valid_from=start,
                valid_until=datetime.datetime.fromisoformat(values["valid_until"]),
                issued_at=min(start, at),
            )
        )
    Coupon.objects.bulk_create(coupons)
    return Counter({COUPONS: len(coupons)}) if coupons else Counter()


def posted(run: ImportRun) -> Counter:
    """The coupons the database holds from a run: those of its imported rows' codes."""
    codes = run.rows.filter(state=State.DONE).annotate(code=KT("values__code")).values("code")
    held = Coupon.objects.filter(origin=Coupon.Origin.MIGRATION, code__in=codes).count()
    return Counter({COUPONS: held})


def labels(keys: Iterable[str]) -> dict[str, str]:
    return {COUPONS: str(_("Coupons"))}


COUPON_FILE = Legacy(
    kind="coupons",
    name=_("Outstanding coupons (old CRM)"),
    fields=FIELDS,
    columns=COLUMNS,
    required=("code", "benefit", "valid_until"),
    parse=parse,
    judge=judge,
    apply=apply,
    posted=posted,
    labels=labels,
    messages=MESSAGES,
)
