"""Import profiles: what one source's export looks like, and its rows as typed, checked values.

A profile is plain data (strings, tuples, dicts of strings) so that the profile model of the
next step, which operators edit in the admin, can produce one; the three shipped with the
product are in ``SHIPPED``, each named after its sample file in tests/fixtures/samples.

``parse_rows`` checks every row on its own, without the database: what needs the database
(which member a card belongs to, whether a receipt was already imported, whether a return's
sale exists, whether a store code is known and the user's own) is the importer's business.

Rules decided here:
- A POS return (退货) carries negative amounts; it is yielded as kind "return" with positive
  amounts (money given back) and needs its original receipt number, unless the profile matches
  returns to sales (``return_match_days``): then the importer finds the sale.
- An e-commerce order earns on payment: ``occurred_at`` is the payment time (付款时间). An order
  without one is skipped as "not paid", whatever its status; a closed one (已关闭) is skipped
  as "closed: earns nothing". Skips are reported, not errors: nothing in the file is wrong.
- An order's gross amount includes shipping when the export lists them apart (商品总价 + 运费),
  as ``Purchase.gross_amount`` does; the paid amount may not exceed it.
- A phone is normalised to E.164. An invalid one is a row error, except in profiles with
  ``reject_invalid_mobile=False`` where another identity (the card) names the member: the
  phone is then dropped with a warning. The POS profile does this because tills store what
  the cashier typed, and a typo in a secondary field should not cost a carded member points.
- The same order twice in a file is yielded twice: counting once is the importer's job.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from members.imports.legacy import LEGACY
from members.imports.member_rows import HEADER_ALIASES, parse_row
from members.imports.parsing import (
    header_map,
    is_blank,
    is_totals,
    parse_amount,
    parse_datetime,
    parse_text,
    read_table,
)
from members.imports.reasons import (
    PHONE_CODES,
    Errors,
    Reason,
    column_name,
    field_reasons,
    reason,
    reasons_of,
)
from members.models import Channel, Identity, Member
from members.phones import normalize_mobile
from members.purchases.services import FUTURE_TOLERANCE, MAX_AMOUNT

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

Kind = Literal["sale", "return", "order", "member", "listed", "record", "skip"]

#: Canonical status -> what the row is. A status missing here makes the row a skip.
STATUS_KINDS: dict[str, Kind] = {
    "sale": "sale",
    "return": "return",
    "completed": "order",
    "refunded": "order",
    "partly_refunded": "order",
}
REFUND_STATUSES = {"refunded", "partly_refunded"}

#: Longest text each purchase field may hold (the model columns it will be stored in).
TEXT_LIMITS = {
    "store_code": 32,
    "store_name": 100,
    "order_number": 64,
    "original_order_number": 64,
    "card": 64,
    "unionid": 128,
    "cashier": 64,
    "shop": 100,
}
AMOUNTS = ("gross", "paid", "shipping", "refunded")
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Profile:
    """One source layout. ``columns`` maps a canonical field to the headers that mean it."""

    code: str
    name: StrOrPromise  # shipped profiles translate their names lazily
    kind: str  # ImportProfile.Kind: "purchases", "members", "segment" or an old CRM's (legacy)
    columns: Mapping[str, tuple[str, ...]]
    required: tuple[str, ...]
    source: str = ""  # Purchase.source: with the order number, what makes a receipt unique
    channel: str = Channel.STORE
    file_format: Literal["auto", "csv", "tsv", "xlsx"] = "auto"
    encoding: str = "auto"
    delimiter: str | None = None
    date_formats: tuple[str, ...] = ()  # strptime patterns tried before the built-in forms
    statuses: Mapping[str, str] = field(default_factory=dict)  # file text -> canonical status
    member_match: tuple[str, ...] = ("card", "mobile")  # identities, in the order tried
    unknown_member: Literal["enrol", "reject"] = "enrol"
    store_codes: Mapping[str, str] = field(default_factory=dict)  # file's store -> our code
    gross_includes_shipping: bool = False
    reject_invalid_mobile: bool = True
    #: None: a return needs its original receipt number. N: a return without one is matched to
    #: its sale by ``members.imports.matching.sale_for_return`` (same member and store, N days).
    return_match_days: int | None = None
    #: False: purchases are recorded without earning (history from an old system)
    earns: bool = True


#: What a row of each kind of file is (an old CRM's files: "record", ``members.imports.legacy``).
ROW_KINDS: dict[str, Kind] = {"members": "member", "segment": "listed"}


@dataclass
class ParsedRow:
    number: int  # the row number a spreadsheet shows (the header is row 1)
    kind: Kind
    values: dict[str, Any] = field(default_factory=dict)
    #: {field: [reason, ...]} (``members.imports.reasons``): codes and values, worded when shown
    errors: Errors = field(default_factory=dict)
    warnings: Errors = field(default_factory=dict)
    reason: Reason | None = None  # why a "skip" row is skipped
    cells: list[str] = field(default_factory=list)  # as read, for a file of rejected rows

    @property
    def ok(self) -> bool:
        return self.kind != "skip" and not self.errors

    def add_error(self, name: str, code: str, /, **params: Any) -> None:
        self.errors.setdefault(name, []).append(reason(code, **params))


POS_RECEIPTS = Profile(
    code="pos_receipts_gbk",
    name=gettext_lazy("POS receipts (GBK CSV)"),
    kind="purchases",
    source="pos",
    channel=Channel.STORE,
    encoding="auto",  # the sample is GBK; detection also takes UTF-8 re-saves of it
    columns={
        "store_code": ("门店编码", "门店代码", "门店编号", "store code"),
        "store_name": ("门店名称", "门店", "store name", "store"),
        "order_number": ("小票号", "单据号", "流水号", "receipt number", "receipt no"),
        "card": ("会员卡号", "卡号", "card", "card number"),
        "mobile": ("手机号", "手机", "手机号码", "会员手机", "mobile", "phone"),
        "status": ("交易类型", "单据类型", "type", "transaction type"),
        "gross": ("应收金额", "应收", "gross", "gross amount"),
        "paid": ("实收金额", "实收", "paid", "paid amount"),
        "occurred_at": ("交易时间", "销售时间", "time", "transaction time"),
        "original_order_number": ("原小票号", "原单号", "original receipt", "original receipt number"),
        "cashier": ("收银员", "cashier"),
    },
    required=("store_code", "order_number", "status", "gross", "paid", "occurred_at"),
    statuses={"销售": "sale", "退货": "return", "sale": "sale", "return": "return"},
    member_match=("card", "mobile"),
    unknown_member="enrol",
    reject_invalid_mobile=False,
)

ECOMMERCE_ORDERS = Profile(
    code="ecommerce_orders",
    name=gettext_lazy("E-commerce orders (Tmall-style CSV)"),
    kind="purchases",
    source="tmall-shop",
    channel=Channel.TMALL,
    columns={
        "order_number": ("订单号", "订单编号", "主订单编号", "order number", "order id"),
        "ordered_at": ("下单时间", "创建时间", "订单创建时间", "order time", "created at"),
        "paid_at": ("付款时间", "支付时间", "payment time", "paid at"),
        "mobile": ("买家手机号", "收货人手机号", "联系手机", "mobile", "phone"),
        "status": ("订单状态", "交易状态", "order status", "status"),
        "gross": ("商品总价", "商品金额", "goods total"),
        "shipping": ("运费", "邮费", "shipping"),
        "paid": ("实付金额", "买家实付", "paid", "paid amount"),
        "refunded": ("退款金额", "refunded", "refund amount"),
        "shop": ("店铺", "店铺名称", "shop"),
    },
    required=("order_number", "paid_at", "status", "gross", "paid", "mobile"),
    statuses={
        "交易成功": "completed",
        "已关闭": "closed",
        "交易关闭": "closed",
        "退款成功": "refunded",
        "部分退款": "partly_refunded",
        "等待买家付款": "unpaid",
    },
    member_match=("mobile",),
    unknown_member="enrol",
)

MEMBERS = Profile(
    code="members",
    name=gettext_lazy("Member list (CRM CSV)"),
    kind="members",
    source="import",
    channel=Channel.IMPORT,
    columns=HEADER_ALIASES,
    required=(),
    member_match=("mobile", "card", "unionid"),
    unknown_member="enrol",
)

#: A list of existing members for a static segment (``members.imports.targets``): each row a
#: member number or a phone, or both (then they must name the same member).
LISTED = ("member_number", "mobile")
SEGMENT_MEMBERS = Profile(
    code="segment_members",
    name=gettext_lazy("Members for a static segment (member number or phone)"),
    kind="segment",
    columns={
        "member_number": ("会员号", "会员编号", "会员号码", "会员编码", "member number", "member no"),
        "mobile": ("手机号", "手机", "手机号码", "会员手机", "mobile", "phone"),
    },
    required=(),
    member_match=LISTED,
    unknown_member="reject",
)

SHIPPED: dict[str, Profile] = {p.code: p for p in (POS_RECEIPTS, ECOMMERCE_ORDERS, MEMBERS, SEGMENT_MEMBERS)}


def parse_rows(
    profile: Profile, data: bytes, *, now: datetime.datetime, tz: datetime.tzinfo | None = None
) -> Iterator[ParsedRow]:
    """Yield every row after the header, checked. Raises ValueError (not text, not a workbook)
    or ValidationError (columns missing) before the first row when the file itself is wrong.
    """
    tz = tz or timezone.get_current_timezone()
    table = read_table(
        data, file_format=profile.file_format, encoding=profile.encoding, delimiter=profile.delimiter
    )
    headers = next((cells for _number, cells in table if not is_blank(cells)), None)
    if headers is None:
        raise ValidationError(_("The file is empty."), code="empty")
    columns = header_map(headers, profile.columns, profile.required)
    if not any(name in columns for name in profile.member_match):
        raise ValidationError(
            _("No column names the member: the file needs one of %(fields)s.")
            % {"fields": ", ".join(column_name(name, {}) for name in profile.member_match)},
            code="missing_columns",
        )
    order_index = columns.get("order_number")
    statuses = {_status_key(text): status for text, status in profile.statuses.items()}
    for number, cells in table:
        if is_blank(cells):
            yield ParsedRow(number, "skip", reason=reason("blank_row"), cells=cells)
        elif is_totals(cells, order_index):
            yield ParsedRow(number, "skip", reason=reason("totals_row"), cells=cells)
        else:
            raw = {name: cells[i] if i < len(cells) else "" for name, i in columns.items()}
            kind: Kind = "record" if profile.kind in LEGACY else ROW_KINDS.get(profile.kind, "sale")
            row = ParsedRow(number, kind, cells=cells)
            if kind == "record":
                _legacy_row(profile, row, raw, tz)
            elif profile.kind == "members":
                _member_row(row, raw)
            elif profile.kind == "segment":
                _listed_row(row, raw)
            else:
                _purchase_row(profile, row, raw, statuses, now=now, tz=tz)
            yield row


# --- members -------------------------------------------------------------------------------


class _AnyStoreCode(dict):
    """Stands for the store table in ``importing.parse_row``: here any code passes as itself,
    the importer checks it against the database."""

    def get(self, key: str, default: Any = None) -> str:
        return key


def _member_row(row: ParsedRow, raw: dict[str, str]) -> None:
    # The member list keeps the rules of the existing member import: one set of rules.
    try:
        cleaned = parse_row(raw, _AnyStoreCode())
    except ValidationError as exc:
        row.errors = field_reasons(exc)
        return
    identities = {key.kind: key.value for key in cleaned.pop("identities")}
    row.values = {
        **cleaned,
        "card": identities.get(Identity.Kind.CARD, ""),
        "unionid": identities.get(Identity.Kind.WECHAT_UNIONID, ""),
    }


# --- lists of existing members ------------------------------------------------------------

MEMBER_NUMBER = re.compile(rf"[0-9A-Za-z]{{1,{Member._meta.get_field('member_number').max_length}}}")


def _listed_row(row: ParsedRow, raw: dict[str, str]) -> None:
    """A member number, a phone, or both; which member they name is the preview's business."""
    number = "".join(str(raw.get("member_number") or "").split())
    if number and not MEMBER_NUMBER.fullmatch(number):
        row.add_error("member_number", "not_member_number", value=number[:20])
    mobile = None
    if raw.get("mobile"):
        mobile, problems = _normalized_mobile(raw["mobile"])
        if mobile is None:
            row.errors.setdefault("mobile", []).extend(problems)
    if not number and not raw.get("mobile"):
        row.add_error("member", "no_member_listed")
    row.values = {"member_number": number, "mobile": mobile}


# --- an old CRM's records (``members.imports.legacy``) ---------------------------------------


def _legacy_row(profile: Profile, row: ParsedRow, raw: dict[str, str], tz: datetime.tzinfo) -> None:
    """The member it names (as a list of members names them, or by card), then the kind's own
    rules (``Legacy.parse``), which also say what the row counts toward the file's totals."""
    _listed_row(row, raw)
    member = row.values
    card = capture(row, "card", parse_text, raw.get("card") or "", TEXT_LIMITS["card"])
    member["card"] = (card or "").upper()
    if member["card"] and "member" in row.errors:
        del row.errors["member"]  # named by the card: ``_listed_row`` knows only numbers and phones
    if not any(member.get(name) for name in ("member_number", "mobile", "card")):
        row.errors["member"] = [reason("no_member_named_legacy")]
    LEGACY[profile.kind].parse(row, raw, tz)


# --- purchases -----------------------------------------------------------------------------


def _status_key(text: str) -> str:
    return "".join(text.split()).lower()


def _purchase_row(
    profile: Profile,
    row: ParsedRow,
    raw: dict[str, str],
    statuses: dict[str, str],
    *,
    now: datetime.datetime,
    tz: datetime.tzinfo,
) -> None:
    values = row.values
    values.update(source=profile.source, channel=profile.channel)
    for name, limit in TEXT_LIMITS.items():
        if name in raw:
            values[name] = capture(row, name, parse_text, raw[name], limit)
    if values.get("store_code"):
        values["store_code"] = profile.store_codes.get(values["store_code"], values["store_code"])

    status = statuses.get(_status_key(raw["status"])) if "status" in raw else "sale"
    if status is None:
        row.add_error("status", "unknown_status", value=raw["status"])
    values["status"] = status
    # Rows that earn nothing are skipped before their values are judged.
    if status == "closed":
        row.kind, row.reason = "skip", reason("closed_order")
        return
    if status == "unpaid" or ("paid_at" in raw and not raw["paid_at"]):
        row.kind, row.reason = "skip", reason("not_paid")
        return
    row.kind = STATUS_KINDS.get(status or "", "sale")

    if not values.get("order_number") and "order_number" not in row.errors:
        row.add_error("order_number", "order_number_required")
    _times(profile, row, raw, now=now, tz=tz)
    _amounts(profile, row, raw)
    _member(profile, row, raw)


def capture(row: ParsedRow, name: str, func: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return func(*args, **kwargs)
    except ValidationError as exc:
        row.errors.setdefault(name, []).extend(reasons_of(exc))
        return None


def _times(
    profile: Profile, row: ParsedRow, raw: dict[str, str], *, now: datetime.datetime, tz: datetime.tzinfo
) -> None:
    # An order earns when it is paid; a receipt when it is rung up.
    when = "paid_at" if "paid_at" in raw else "occurred_at"
    formats = profile.date_formats
    at = capture(row, when, parse_datetime, raw[when], tz, formats=formats)
    if at is not None and at > now + FUTURE_TOLERANCE:
        row.add_error(when, "future", when=f"{at.astimezone(tz):%Y-%m-%d %H:%M}")
    row.values["occurred_at"] = at
    if raw.get("ordered_at"):
        row.values["ordered_at"] = capture(
            row, "ordered_at", parse_datetime, raw["ordered_at"], tz, formats=formats
        )


def _amounts(profile: Profile, row: ParsedRow, raw: dict[str, str]) -> None:
    found: dict[str, Decimal | None] = {}
    for name in AMOUNTS:
        if name in raw:
            optional = name in ("shipping", "refunded")
            found[name] = capture(row, name, parse_amount, raw[name], allow_empty=optional)
    if row.kind == "return":
        for name in ("gross", "paid"):  # POS returns are negative: money going back
            amount = found.get(name)
            if amount is not None and amount > 0:
                row.add_error(name, "return_positive")
                found[name] = None
            elif amount is not None:
                found[name] = -amount
        if found.get("paid") == 0 and "paid" not in row.errors:
            row.add_error("paid", "refund_zero")
        unnamed = not row.values.get("original_order_number") and "original_order_number" not in row.errors
        if unnamed and profile.return_match_days:
            row.values["match_sale"] = True  # the importer finds the sale (it needs the database)
        elif unnamed:
            row.add_error("original_order_number", "original_required")
    for name, amount in found.items():
        if amount is None:
            continue
        if amount < 0:
            row.add_error(name, "sale_negative" if row.kind == "sale" else "negative")
        elif amount > MAX_AMOUNT:
            row.add_error(name, "implausible", amount=str(amount))
    shipping = found.get("shipping") or ZERO
    gross, paid, refunded = found.get("gross"), found.get("paid"), found.get("refunded") or ZERO
    if "gross" not in raw:  # a layout with one amount column: what was paid is the gross
        gross = paid
    if gross is not None and not profile.gross_includes_shipping:
        gross += shipping
    if row.kind == "return":
        refunded = paid or ZERO
    row.values.update(gross=gross, paid=paid, shipping=shipping, refunded=refunded)
    if any(name in row.errors for name in AMOUNTS) or gross is None or paid is None:
        return  # amounts compared with each other only once each one is sound
    if paid > gross:
        row.add_error("paid", "paid_above_gross")
    if refunded > paid:
        row.add_error("refunded", "refunded_above_paid")
    if row.values.get("status") in REFUND_STATUSES and refunded <= ZERO:
        row.add_error("refunded", "refund_missing")


def _member(profile: Profile, row: ParsedRow, raw: dict[str, str]) -> None:
    values = row.values
    values.setdefault("card", "")
    values.setdefault("unionid", "")
    values["mobile"] = None
    if raw.get("mobile"):
        mobile, problems = _normalized_mobile(raw["mobile"])
        if mobile:
            values["mobile"] = mobile
        else:
            others = any(values.get(name) for name in profile.member_match if name != "mobile")
            target = row.errors if profile.reject_invalid_mobile or not others else row.warnings
            target.setdefault("mobile", []).extend(problems)
            if target is row.errors:
                return
    named = [name for name in profile.member_match if values.get(name)]
    if not named and not any(name in row.errors for name in profile.member_match):
        row.add_error("member", "no_member_named")


@lru_cache(maxsize=1 << 18)
def _normalized_mobile(raw: str) -> tuple[str | None, tuple[Reason, ...]]:
    """Cached: a large export names the same members again and again, and libphonenumber is the
    slowest step of a row. (Reasons are codes, worded when read: no language in the key.)"""
    try:
        return normalize_mobile(raw), ()
    except ValidationError as exc:
        return None, tuple(reasons_of(exc, codes=PHONE_CODES))
