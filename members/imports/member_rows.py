"""Member list rows: header aliases and the rules one row must pass (profile ``members``).

Each row is parsed in full; every problem in it is reported together against the column it came
from. Matching rows to members (new, already imported, colliding with another member) is the
import framework's (members/imports/services.py): a file of members goes through the same
preview, job and rejected-rows file as any other import.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from django.core.exceptions import ValidationError

from members.imports.reasons import PHONE_CODES, error
from members.models import Channel, Gender, Identity, Store
from members.phones import normalize_mobile
from members.services import IdentityKey

# Canonical column -> header spellings seen in CRM and POS exports (compared case-insensitively).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "会员姓名", "名字", "name", "full name"),
    "mobile": ("手机号", "手机", "手机号码", "电话", "联系电话", "mobile", "phone", "mobile phone"),
    "email": ("邮箱", "电子邮箱", "email", "e-mail"),
    "gender": ("性别", "gender", "sex"),
    "birthday": ("生日", "出生日期", "birthday", "date of birth", "birth date"),
    "province": ("省份", "省", "province"),
    "city": ("城市", "市", "city"),
    "registration_channel": ("注册渠道", "渠道", "来源渠道", "channel", "registration channel"),
    "registration_store": ("注册门店", "门店", "门店编码", "store", "store code", "registration store"),
    "card": ("会员卡号", "卡号", "card", "card number", "membership card"),
    "unionid": ("微信unionid", "unionid", "wechat unionid"),
    "referral_code": ("推荐码", "邀请码", "推荐人推荐码", "referral code", "invite code", "referral"),
}

# One line per gender (per channel below): the synonyms of one value read together; the
# formatter is told to leave both tables so (one entry a line would spread them over forty lines).
GENDERS = {
    "男": Gender.MALE, "m": Gender.MALE, "male": Gender.MALE, "1": Gender.MALE,
    "女": Gender.FEMALE, "f": Gender.FEMALE, "female": Gender.FEMALE, "2": Gender.FEMALE,
    "未知": Gender.UNKNOWN, "保密": Gender.UNKNOWN, "unknown": Gender.UNKNOWN, "": Gender.UNKNOWN,
    "0": Gender.UNKNOWN,
}  # fmt: skip

CHANNELS = {
    "门店": Channel.STORE, "线下门店": Channel.STORE, "pos": Channel.STORE,
    "微信小程序": Channel.WECHAT_MINIPROGRAM, "小程序": Channel.WECHAT_MINIPROGRAM,
    "公众号": Channel.WECHAT_OA, "微信公众号": Channel.WECHAT_OA,
    "天猫": Channel.TMALL, "淘宝": Channel.TAOBAO, "京东": Channel.JD, "抖音": Channel.DOUYIN,
    "拼多多": Channel.PINDUODUO, "有赞": Channel.YOUZAN, "有赞商城": Channel.YOUZAN,
    "app": Channel.APP, "官网": Channel.WEBSITE, "合作伙伴": Channel.PARTNER, "其他": Channel.OTHER,
    "": Channel.IMPORT,
}  # fmt: skip
CHANNELS.update({c.value: c for c in Channel})

_DATE = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*$")
_COMPACT_DATE = re.compile(r"^\s*(\d{4})(\d{2})(\d{2})\s*$")
OLDEST_BIRTH_YEAR = 1900
MAX_TEXT = {
    "name": 50,
    "email": 254,
    "province": 30,
    "city": 30,
    "card": 64,
    "unionid": 128,
    "referral_code": 16,
}


def parse_date(raw: str) -> datetime.date:
    text = raw.strip()
    match = _DATE.match(text) or _COMPACT_DATE.match(text)
    if not match:
        raise error("not_date", value=text)
    year, month, day = (int(part) for part in match.groups())
    try:
        return datetime.date(year, month, day)
    except ValueError:
        raise error("unreal_date", value=text) from None


class _Problems:
    """Every problem of a row, as reasons (``members.imports.reasons``) under the column they are about."""

    def __init__(self) -> None:
        self.errors: dict[str, list[ValidationError]] = {}

    def add(self, field: str, code: str, /, **params: Any) -> None:
        self.errors.setdefault(field, []).append(error(code, **params))

    def capture(self, field: str, func: Any, *args: Any, codes: dict[str, str] | None = None) -> Any:
        try:
            return func(*args)
        except ValidationError as exc:
            if codes:  # another module's codes (the phone parser's): ours, same words
                exc = ValidationError(
                    [
                        error(codes[e.code], **(e.params or {})) if e.code in codes else e
                        for e in exc.error_list
                    ]
                )
            self.errors.setdefault(field, []).extend(exc.error_list)
            return None


def parse_row(row: dict[str, Any], stores: dict[str, Store]) -> dict[str, Any]:
    """Turn one file row into ``member_enrol`` arguments, or raise every problem at once (a
    ValidationError by field whose errors carry the reasons' codes and parameters)."""
    value = {key: str(row.get(key) or "").strip() for key in HEADER_ALIASES}
    errors = _Problems()
    for key, limit in MAX_TEXT.items():
        if len(value[key]) > limit:
            errors.add(key, "too_long", limit=limit, value=value[key][:20])
    cleaned: dict[str, Any] = {"name": value["name"], "email": value["email"]}
    cleaned["mobile"] = (
        errors.capture("mobile", normalize_mobile, value["mobile"], codes=PHONE_CODES)
        if value["mobile"]
        else None
    )
    gender = GENDERS.get(value["gender"].lower())
    if gender is None:
        errors.add("gender", "unknown_gender", value=value["gender"])
    cleaned["gender"] = gender
    cleaned["birthday"] = (
        errors.capture("birthday", parse_date, value["birthday"]) if value["birthday"] else None
    )
    if cleaned["birthday"] and cleaned["birthday"].year < OLDEST_BIRTH_YEAR:
        errors.add("birthday", "birthday_too_old", date=cleaned["birthday"].isoformat())
    channel = CHANNELS.get(value["registration_channel"].lower())
    if channel is None:
        errors.add("registration_channel", "unknown_channel", value=value["registration_channel"])
    cleaned["registration_channel"] = channel
    store_code = value["registration_store"]
    cleaned["registration_store"] = stores.get(store_code.upper()) if store_code else None
    if store_code and cleaned["registration_store"] is None:
        errors.add("registration_store", "unknown_store", code=store_code)
    cleaned["province"], cleaned["city"] = value["province"], value["city"]
    cleaned["referral_code"] = value["referral_code"]  # checked when the row is enrolled
    identities = []
    if value["card"]:
        identities.append(IdentityKey(Identity.Kind.CARD, value["card"]))
    if value["unionid"]:
        identities.append(IdentityKey(Identity.Kind.WECHAT_UNIONID, value["unionid"]))
    cleaned["identities"] = identities
    if not (cleaned["mobile"] or identities or errors.errors.get("mobile")):
        errors.add("mobile", "no_identity")
    if errors.errors:
        raise ValidationError(errors.errors)
    return cleaned
