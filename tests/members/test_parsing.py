"""The parsing layer and the shipped import profiles: pure, no database.

Each sample export (tests/fixtures/samples) goes through its profile with every row's outcome
pinned; then each value parser, encoding, table format and row rule on its own; then a generated
large POS export is read as a stream.
"""

from __future__ import annotations

import datetime
import io
import tracemalloc
from collections import Counter
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from django.core.exceptions import ValidationError

from members.imports.parsing import (
    decode_text,
    header_map,
    is_blank,
    is_totals,
    parse_amount,
    parse_datetime,
    parse_text,
    read_table,
)
from members.imports.profiles import ECOMMERCE_ORDERS, MEMBERS, POS_RECEIPTS, SHIPPED, ParsedRow, parse_rows
from members.imports.reasons import errors_texts, reason_text
from tests.fixtures.exports import pos_export, read_sample

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=TZ)


def parse(profile, data: bytes) -> list[ParsedRow]:
    return list(parse_rows(profile, data, now=NOW, tz=TZ))


def sample(code: str) -> list[ParsedRow]:
    return parse(SHIPPED[code], read_sample(f"{code}.csv"))


def outcomes(rows: list[ParsedRow]) -> Counter:
    return Counter("skip" if r.kind == "skip" else r.kind if r.ok else "rejected" for r in rows)


def why(row: ParsedRow) -> str:
    """Why a row is skipped, in words."""
    return reason_text(row.reason) if row.reason else ""


def by_number(rows: list[ParsedRow]) -> dict[int, ParsedRow]:
    return {r.number: r for r in rows}


# --- the samples through their profiles -----------------------------------------------


def test_pos_sample():
    rows = sample("pos_receipts_gbk")
    assert len(rows) == 201 and rows[0].number == 2 and rows[-1].number == 202
    assert outcomes(rows) == {"sale": 184, "return": 8, "rejected": 8, "skip": 1}
    # The sample's quirks (tests/fixtures/exports.py): a phone with a digit lost and no card, and
    # an impossible date. Unknown stores and receipts exported twice are the importer's to find.
    rejected = {r.number: (r.values["order_number"], errors_texts(r.errors)) for r in rows if r.errors}
    invalid = "“{}” is not a valid phone number (wrong length or unknown prefix)."
    not_real = "“2026-02-30 {}” is not a real date."
    assert rejected == {
        14: ("S0002-000000012", {"mobile": [invalid.format("1860019437")]}),
        33: ("S0001-000000031", {"occurred_at": [not_real.format("07:20:34")]}),
        64: ("S0002-000000062", {"mobile": [invalid.format("1380022605")]}),
        83: ("S0002-000000081", {"occurred_at": [not_real.format("15:32:58")]}),
        114: ("S0000-000000112", {"mobile": [invalid.format("1880043194")]}),
        133: ("S0002-000000131", {"occurred_at": [not_real.format("16:45:25")]}),
        164: ("S0000-000000162", {"mobile": [invalid.format("1370025772")]}),
        183: ("S0000-000000181", {"occurred_at": [not_real.format("00:46:28")]}),
    }
    # The same kind of phone next to a card: the card names the member, the phone is dropped.
    warned = [r for r in rows if r.warnings]
    assert [(r.number, r.values["card"]) for r in warned] == [
        (144, "VIP00000013"), (153, "VIP00000042"), (177, "VIP00000042"),
    ]  # fmt: skip
    assert all(r.ok and r.values["mobile"] is None for r in warned)
    row = by_number(rows)
    assert (row[202].kind, why(row[202])) == ("skip", "totals row")

    first = row[2].values  # "2,131.79" in quotes: thousands separator
    assert first["store_code"] == "S0001" and first["order_number"] == "S0001-000000000"
    assert (first["gross"], first["paid"], first["refunded"]) == (Decimal("2347.30"), Decimal("2131.79"), 0)
    assert first["card"] == "VIP00000023" and first["mobile"] == "+8615900186458"
    assert first["occurred_at"] == datetime.datetime(2026, 3, 30, 8, 28, 53, tzinfo=TZ)
    assert (first["source"], first["channel"], first["status"]) == ("pos", "store", "sale")
    # Phones as cashiers type them: "+86 135 0046 3623", "136-0002-8078".
    assert row[9].values["mobile"] == "+8613500463623" and row[21].values["mobile"] == "+8613600028078"
    assert row[25].values["card"] == "vip00000036"  # as written: the importer matches cards in any case
    assert row[40].ok and row[40].values["store_code"] == "S0999"  # whether the store exists: the importer's
    assert row[46].values == row[45].values  # the same receipt twice: the importer counts it once

    ret = row[43]
    assert ret.kind == "return" and ret.ok
    assert ret.values["order_number"] == "S0002-R00000041"
    assert ret.values["original_order_number"] == "S0002-000000001"
    assert ret.values["gross"] == ret.values["paid"] == ret.values["refunded"] == Decimal("1594.76")
    assert ret.values["mobile"] == "+8613800115187" and ret.values["card"] == ""
    assert row[78].values["gross"] == Decimal("2131.79")  # "-2,131.79": negative with separator
    assert sorted(r.number for r in rows if r.kind == "return") == [43, 48, 76, 78, 101, 157, 185, 186]


def test_ecommerce_sample():
    rows = sample("ecommerce_orders")
    summary = [(r.number, r.kind, why(r), r.values.get("status")) for r in rows]
    assert summary == [
        (2, "order", "", "completed"),
        (3, "skip", "closed: earns nothing", "closed"),
        (4, "order", "", "completed"),
        (5, "order", "", "refunded"),
        (6, "order", "", "completed"),  # the duplicate of row 2: the importer counts it once
        (7, "order", "", "partly_refunded"),
        (8, "order", "", "completed"),
        (9, "order", "", "completed"),
        (10, "skip", "closed: earns nothing", "closed"),
        (11, "order", "", "completed"),
    ]
    row = by_number(rows)
    assert errors_texts(row[11].errors) == {
        "gross": ["“待核算” is not an amount."],
        "paid": ["“待核算” is not an amount."],
    }
    assert [r.number for r in rows if not r.ok] == [3, 10, 11]
    assert row[2].values == row[6].values and row[2].values["order_number"] == "E202611010001"
    assert row[2].values["gross"] == Decimal("1319.67") and row[2].values["paid"] == Decimal("1039.67")
    assert row[4].values["gross"] == row[4].values["paid"] == Decimal("35.61")  # 27.61 and 8.00 shipping
    assert (row[5].values["paid"], row[5].values["refunded"]) == (Decimal("336.68"), Decimal("336.68"))
    assert (row[7].values["paid"], row[7].values["refunded"]) == (Decimal("1659.90"), Decimal("553.00"))
    # An order earns when paid: occurred_at is 付款时间, 下单时间 kept as ordered_at.
    assert row[2].values["occurred_at"] == datetime.datetime(2026, 11, 1, 17, 24, 0, tzinfo=TZ)
    assert row[2].values["ordered_at"] == datetime.datetime(2026, 11, 1, 17, 14, 7, tzinfo=TZ)
    assert row[2].values["mobile"] == "+8613700035997" and row[2].values["shop"] == "旗舰店"
    assert (row[2].values["source"], row[2].values["channel"]) == ("tmall-shop", "tmall")


def test_members_sample():
    rows = sample("members")
    assert outcomes(rows) == {"member": 9, "rejected": 1, "skip": 1}
    row = by_number(rows)
    assert errors_texts(row[10].errors) == {
        "mobile": ["“1580006767” is not a valid phone number (wrong length or unknown prefix)."],
        "birthday": ["“1991-02-30” is not a real date."],
    }
    assert (row[11].kind, why(row[11])) == ("skip", "blank row")
    yang = row[3].values  # "+86 139 0001 2240", "1972/07/07", 微信小程序
    assert yang["mobile"] == "+8613900012240" and yang["birthday"] == datetime.date(1972, 7, 7)
    assert yang["registration_channel"] == "wechat_mp" and yang["unionid"] == "oUnion_0001836f3a"
    assert row[2].values["card"] == "VIP00000000" and row[2].values["registration_store"] == "S0000"
    # 张军 gives 吴洋's phone: the file is fine, deciding who owns it is the importer's job.
    assert row[12].ok and row[12].values["mobile"] == row[2].values["mobile"]


# --- value parsers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("299", "299.00"), ("1,280.00", "1280.00"), ("¥1,234.50", "1234.50"), ("￥ 12.5", "12.50"),
        (" 1 234.50 ", "1234.50"), ("-1,234.50", "-1234.50"), ("(1,234.50)", "-1234.50"),
        ("-¥20.62", "-20.62"), ("¥-20.62", "-20.62"), ("+3", "3.00"), ("0.10", "0.10"),
        ("12.500", "12.50"), ("1,234,567.00", "1234567.00"), ("100元", "100.00"),
    ],
)  # fmt: skip
def test_parse_amount_accepts(raw, expected):
    assert parse_amount(raw) == Decimal(expected)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("abc", "“abc” is not an amount."), ("1,2,3", "“1,2,3” is not an amount."),
        ("12.34.5", "“12.34.5” is not an amount."), ("(-5)", "“(-5)” is not an amount."),
        ("1.005", "“1.005” has more than two decimals."), ("", "The amount is empty."),
        ("--5", "“--5” is not an amount."),
    ],
)  # fmt: skip
def test_parse_amount_refuses(raw, message):
    with pytest.raises(ValidationError) as exc:
        parse_amount(raw)
    assert exc.value.messages == [message]


def test_parse_amount_empty_when_allowed():
    assert parse_amount("  ", allow_empty=True) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-01 10:02:11", (2026, 11, 1, 10, 2, 11)), ("2026/11/1 9:05", (2026, 11, 1, 9, 5)),
        ("2026年11月01日 10:02", (2026, 11, 1, 10, 2)),
        ("2026年11月1日10时02分05秒", (2026, 11, 1, 10, 2, 5)),
        ("2026-11-01", (2026, 11, 1)), ("2026/11/01", (2026, 11, 1)), ("2026年11月1日", (2026, 11, 1)),
        ("2026.11.01 23:59", (2026, 11, 1, 23, 59)), ("2026-11-01T10:02:11", (2026, 11, 1, 10, 2, 11)),
        ("2026-11-01 10:02:11.500", (2026, 11, 1, 10, 2, 11)), ("20261101", (2026, 11, 1)),
    ],
)  # fmt: skip
def test_parse_datetime_accepts(raw, expected):
    assert parse_datetime(raw, TZ) == datetime.datetime(*expected, tzinfo=TZ)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("2026-02-30 10:00", "“2026-02-30 10:00” is not a real date."),
        ("2026-11-01 25:00", "“2026-11-01 25:00” is not a real date."),
        ("01/11/2026", "“01/11/2026” is not a date and time (use 2026-11-01 10:02)."),
        ("2026-11-0110:02", "“2026-11-0110:02” is not a date and time (use 2026-11-01 10:02)."),
        ("yesterday", "“yesterday” is not a date and time (use 2026-11-01 10:02)."),
        ("", "The date is empty."),
    ],
)  # fmt: skip
def test_parse_datetime_refuses(raw, message):
    with pytest.raises(ValidationError) as exc:
        parse_datetime(raw, TZ)
    assert exc.value.messages == [message]


def test_parse_datetime_profile_formats_come_first():
    assert parse_datetime("01/11/2026 09:05", TZ, formats=["%d/%m/%Y %H:%M"]) == datetime.datetime(
        2026, 11, 1, 9, 5, tzinfo=TZ
    )


def test_parse_text():
    assert parse_text("  S0001 ", 5) == "S0001"
    with pytest.raises(ValidationError) as exc:
        parse_text("S00001", 5)
    assert exc.value.messages == ["Longer than 5 characters: “S00001…”."]


def test_blank_and_totals_rows():
    assert is_blank(["", " ", "\u3000"]) and is_blank([]) and not is_blank(["", "x"])
    assert is_totals(["合计", "", "200笔"]) and is_totals(["", "总计：", "9"]) and is_totals(["Total", "1"])
    assert is_totals(["S0001", "合计", "", "99.00"], order_index=2)  # no receipt number, says 合计
    assert not is_totals(["S0001", "合计", "R1", "99.00"], order_index=2)  # a store named 合计…
    assert not is_totals(["S0001", "北京", "R1"], order_index=2) and not is_totals([""])


def test_header_map():
    aliases = {"order_number": ("订单号", "order number"), "paid": ("实付金额", "paid")}
    headers = ["\ufeff订单号", " Paid ", "备注"]
    assert header_map(headers, aliases, ["order_number", "paid"]) == {"order_number": 0, "paid": 1}
    assert header_map(["ORDER  NUMBER"], aliases) == {"order_number": 0}
    with pytest.raises(ValidationError) as exc:
        header_map(["备注", "金额"], aliases, ["order_number", "paid"])
    assert exc.value.messages == [
        "Missing columns: Order or receipt number (订单号 / order number); Paid amount (实付金额 / paid). "
        "The file's columns are: 备注, 金额."
    ]
    with pytest.raises(ValidationError, match="both stand for Paid amount"):
        header_map(["paid", "实付金额"], aliases)


# --- encodings and table formats -----------------------------------------------------------

TEXT = '订单号,金额\nE1,"1,280.00"\n'


def test_decode_text_encodings():
    assert decode_text(TEXT.encode("gbk")) == TEXT
    assert decode_text(b"\xef\xbb\xbf" + TEXT.encode()) == TEXT
    assert decode_text(TEXT.encode()) == TEXT
    assert decode_text("䶮 GB18030".encode("gb18030"), "gbk") == "䶮 GB18030"  # GBK read as GB18030
    assert decode_text(TEXT.encode("gbk"), "gb18030") == TEXT
    assert decode_text("é".encode("latin-1"), "latin-1") == "é"  # an explicit encoding wins
    assert decode_text("订单".encode(), "gbk") != "订单"  # even when it is wrong
    with pytest.raises(ValueError, match="Unknown encoding"):
        decode_text(b"x", "klingon")
    with pytest.raises(ValueError, match="not utf-8-sig text"):
        decode_text(b"\xff\xfe\xfa", "utf-8")


def xlsx(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_csv_tsv_semicolon_and_xlsx_give_the_same_rows():
    expected = [(1, ["订单号", "金额", "备注"]), (2, ["E1", "1,280.00", "two\nlines"]), (3, ["", "", ""]),
                (4, ["E2", "5", ""])]  # fmt: skip
    csv_text = '订单号,金额,备注\nE1,"1,280.00","two\nlines"\n,,\nE2,5,\n'
    assert list(read_table(csv_text.encode("gbk"))) == expected
    tsv = csv_text.replace(",", "\t").replace("1\t280", "1,280")
    assert list(read_table(tsv.encode())) == expected  # sniffed
    assert list(read_table(tsv.encode(), file_format="tsv")) == expected
    semi = csv_text.replace(",", ";").replace("1;280", "1,280")
    assert list(read_table(semi.encode("utf-8-sig"))) == expected
    book = xlsx([["订单号", "金额", "备注"], ["E1", "1,280.00", "two\nlines"], [], ["E2", 5, None]])
    assert list(read_table(book)) == [(n, cells + [""] * (3 - len(cells))) for n, cells in expected]


def test_xlsx_cells_read_as_export_text():
    book = xlsx([["a", "b", "c", "d"], [13812345678, 1280.5, datetime.datetime(2026, 11, 1, 10, 2), None]])
    assert list(read_table(book, file_format="xlsx"))[1] == (
        2,
        ["13812345678", "1280.5", "2026-11-01 10:02:00", ""],
    )
    with pytest.raises(ValueError, match="not a readable XLSX"):
        list(read_table(b"PK\x03\x04garbage"))


def test_pos_sample_as_tsv_and_xlsx_parses_like_the_csv():
    data = read_sample("pos_receipts_gbk.csv")
    table = [cells for _n, cells in read_table(data)]
    expected = [(r.number, r.kind, r.values, r.errors) for r in parse(POS_RECEIPTS, data)]
    tsv = "\n".join("\t".join(cells) for cells in table).encode("utf-8-sig")
    book = xlsx(table)
    for other in (tsv, book):
        assert [(r.number, r.kind, r.values, r.errors) for r in parse(POS_RECEIPTS, other)] == expected


# --- row rules -------------------------------------------------------------------------------

POS_HEADER = "门店编码,门店名称,小票号,会员卡号,手机号,交易类型,应收金额,实收金额,交易时间,原小票号,收银员"


def pos(*lines: str) -> dict[int, ParsedRow]:
    return by_number(parse(POS_RECEIPTS, "\n".join([POS_HEADER, *lines]).encode("gbk")))


def test_pos_row_rules():
    row = pos(
        "S1,店,R1,VIP1,,销售,100.00,100.00,2026-11-30 09:00,,C1",  # fine
        "S1,店,R2,VIP1,,销售,-5.00,-5.00,2026-11-30 09:00,,C1",  # negative sale
        "S1,店,R3,VIP1,,退货,5.00,5.00,2026-11-30 09:00,R1,C1",  # positive return
        "S1,店,R4,VIP1,,退货,-5.00,-5.00,2026-11-30 09:00,,C1",  # return of what?
        "S1,店,R5,VIP1,,销售,10,10,2026-12-01 13:30,,C1",  # 1.5 h ahead of NOW
        "S1,店,R6,VIP1,,销售,10,10,2026-12-01 12:59,,C1",  # within the hour of tolerance
        'S1,店,R7,VIP1,,销售,"2,000,000.00",10,2026-11-30 09:00,,C1',  # absurd
        f"S1,店,{'R' * 65},VIP1,,销售,10,10,2026-11-30 09:00,,C1",  # overlong
        "S1,店,,VIP1,,销售,10,10,2026-11-30 09:00,,C1",  # no receipt number
        "S1,店,R10,,,销售,10,10,2026-11-30 09:00,,C1",  # nobody
        "S1,店,R11,VIP1,,销售,10,10,2026-13-01,,C1",  # bad date
        "S1,店,R12,VIP1,,换货,10,10,2026-11-30 09:00,,C1",  # unknown type
        "S1,店,R13,VIP1,,销售,10,12,2026-11-30 09:00,,C1",  # paid more than due
        "S1,店,R14,,1380000000,销售,10,10,2026-11-30 09:00,,C1",  # a bad phone and nothing else
    )
    assert row[2].ok and row[2].values["gross"] == Decimal("100.00")
    assert errors_texts(row[3].errors) == {
        "gross": ["A sale cannot have a negative amount."], "paid": ["A sale cannot have a negative amount."]
    }  # fmt: skip
    assert errors_texts(row[4].errors) == {
        "gross": ["A return must have a negative amount."], "paid": ["A return must have a negative amount."]
    }  # fmt: skip
    assert errors_texts(row[5].errors) == {
        "original_order_number": ["A return needs the original receipt number."]
    }
    assert errors_texts(row[6].errors) == {"occurred_at": ["2026-12-01 13:30 is in the future."]}
    assert row[7].ok
    assert errors_texts(row[8].errors) == {"gross": ["2000000.00 CNY is not a plausible amount."]}
    assert errors_texts(row[9].errors) == {"order_number": [f"Longer than 64 characters: “{'R' * 20}…”."]}
    assert errors_texts(row[10].errors) == {"order_number": ["The order number is required."]}
    assert errors_texts(row[11].errors) == {
        "member": ["The row names no member (no card number, phone or UnionID)."]
    }
    assert errors_texts(row[12].errors) == {"occurred_at": ["“2026-13-01” is not a real date."]}
    assert errors_texts(row[13].errors) == {"status": ["Unknown status “换货”."]}
    assert errors_texts(row[14].errors) == {"paid": ["The paid amount cannot exceed the gross amount."]}
    assert list(row[15].errors) == ["mobile"]


ORDER_HEADER = "订单号,下单时间,付款时间,买家手机号,订单状态,商品总价,运费,实付金额,退款金额,店铺"


def test_order_row_rules():
    text = "\n".join([
        ORDER_HEADER,
        "E1,2026-11-01 10:00,2026-11-01 10:01,13812345678,交易成功,89.90,8.00,97.90,0,店",  # +shipping
        "E2,2026-11-01 10:00,,13812345678,交易成功,10,0,10,0,店",  # no payment time
        "E3,2026-11-01 10:00,,13812345678,等待买家付款,10,0,10,0,店",
        "E4,2026-11-01 10:00,2026-11-01 10:01,13812345678,部分退款,10,0,10,20,店",
        "E5,2026-11-01 10:00,2026-11-01 10:01,13812345678,退款成功,10,0,10,0,店",
        "E6,2026-11-01 10:00,2026-11-01 10:01,13812345678,交易成功,10,0,10,,店",  # empty refund: 0
        "E7,2026-11-01 10:00,2026-11-01 10:01,13812345678,交易成功,10,-1,10,0,店",
    ])  # fmt: skip
    row = by_number(parse(ECOMMERCE_ORDERS, text.encode()))
    assert row[2].ok and (row[2].values["gross"], row[2].values["paid"]) == (
        Decimal("97.90"),
        Decimal("97.90"),
    )
    assert (row[3].kind, why(row[3])) == (row[4].kind, why(row[4])) == ("skip", "not paid")
    assert errors_texts(row[5].errors) == {"refunded": ["The refunded amount cannot exceed the paid amount."]}
    assert errors_texts(row[6].errors) == {"refunded": ["A refunded order needs its refund amount."]}
    assert row[7].ok and row[7].values["refunded"] == Decimal("0.00")
    assert errors_texts(row[8].errors) == {"shipping": ["An amount cannot be negative."]}


def test_file_level_errors():
    with pytest.raises(ValidationError, match="Missing columns: Payment time"):
        parse(ECOMMERCE_ORDERS, ORDER_HEADER.replace("付款时间", "备注").encode())
    with pytest.raises(ValidationError, match="The file is empty"):
        parse(POS_RECEIPTS, b"\n\n")
    with pytest.raises(ValidationError, match="No column names the member"):
        parse(MEMBERS, "姓名,城市\n张伟,上海\n".encode())


def test_profiles_are_plain_data():
    assert set(SHIPPED) == {
        "pos_receipts_gbk", "ecommerce_orders", "members", "segment_members",
        "migration_balances", "migration_tiers", "migration_coupons",  # an old CRM's, registered above
    }  # fmt: skip
    for code, profile in SHIPPED.items():
        assert profile.code == code and str(profile.name)
        assert set(profile.required) <= set(profile.columns)
        assert set(profile.member_match) <= set(profile.columns)


# --- streaming -------------------------------------------------------------------------------


def test_a_large_pos_export_streams():
    data = pos_export(rows=20000, members=200, stores=30, seed=1)
    # Libraries load their tables on first use; 200 members keep the phone cache small, so
    # what is measured is the rows themselves.
    parse(POS_RECEIPTS, read_sample("pos_receipts_gbk.csv"))
    tracemalloc.start()
    try:
        rows = parse_rows(POS_RECEIPTS, data, now=NOW, tz=TZ)
        first = next(rows)
        _, first_peak = tracemalloc.get_traced_memory()
        counts = Counter(r.kind for r in rows) + Counter([first.kind])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert first.number == 2 and first.kind == "sale"
    assert counts["sale"] + counts["return"] == 20000 and counts["skip"] == 1
    # The first row comes before the file is read whole, and the rows are never all held:
    # peak memory stays a small fraction of the decoded file (≈ 2x its bytes as one string).
    assert first_peak < len(data) / 3, (first_peak, len(data))
    assert peak < len(data) / 3, (peak, len(data))
